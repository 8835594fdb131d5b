"""The console's one permission gate: keys that need a role, shown disabled and saying why.

Mixed into a ``Screen`` (before it in the bases). The screen names its gated actions in
``PERMISSIONS``; for an operator whose role lacks the permission they show disabled in
the footer, the command palette lists them with the reason (``denial_for``), and pressing
the key anyway, or reaching the action another way (``refuse``), tells the reason instead
of acting. The engine checks the stored role again on every change.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeGuard, cast

from textual import events
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

from engine.access.roles import Permission
from wfconsole.console.host import ConsoleHost, console_host


class PermissionGate:
    """Refuses the actions in ``PERMISSIONS`` (action name → permission) to roles without it.

    A refusal reads ``REFUSALS[action]`` (``cannot retry``), else the key's description
    (``Run now``), then the reason: ``cannot retry: needs OPERATOR (you are VIEWER)``.
    """

    PERMISSIONS: ClassVar[dict[str, Permission]] = {}
    REFUSALS: ClassVar[dict[str, str]] = {}

    @property
    def console(self) -> ConsoleHost:
        """The app, for the operator and the role checks."""
        return console_host(self._screen)

    @property
    def _screen(self) -> Screen[Any]:
        return cast("Screen[Any]", self)

    def denial_for(self, action: str) -> str | None:
        """Why the operator may not run ``action`` (None when they may)."""
        permission = self.PERMISSIONS.get(action)
        return None if permission is None else self.console.denied(permission)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Actions the operator's role does not allow are shown disabled."""
        permission = self.PERMISSIONS.get(action)
        return True if permission is None else self.console.allowed_action(permission)

    def refuse(self, action: str) -> bool:
        """Tell why ``action`` cannot be done and return True, or return False if it can."""
        reason = self.denial_for(action)
        if reason is None:
            return False
        self._screen.notify(f"{self._label(action)}: {reason}", severity="warning", markup=False)
        return True

    def _label(self, action: str) -> str:
        if action in self.REFUSALS:
            return self.REFUSALS[action]
        bindings = self._screen._bindings.key_to_bindings.values()
        described = (b.description for keys in bindings for b in keys if b.action == action)
        return next((d for d in described if d), action)

    def on_key(self, event: events.Key) -> None:
        """A disabled key still says why nothing happened (not a key an input is typing)."""
        screen = self._screen
        focused = screen.focused
        if _types_text(focused) and (
            event.is_printable or event.key in focused._bindings.key_to_bindings
        ):
            return
        for binding in screen._bindings.key_to_bindings.get(event.key, ()):
            if self.refuse(binding.action):
                event.stop()
                return


def _types_text(widget: Widget | None) -> TypeGuard[Widget]:
    """An ``Input`` or a ``TextArea``. ``TextArea`` (tree-sitter, its themes) is imported
    here, at the first key a gate sees, not with this module: every screen imports it,
    and that import held the console's first screen back by ~15 ms."""
    if isinstance(widget, Input):
        return True
    from textual.widgets import TextArea

    return isinstance(widget, TextArea)
