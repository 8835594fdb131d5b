"""The console's one permission gate: keys that need a role, shown disabled and saying why.

Mixed into a ``Screen`` (before it in the bases). The screen names its gated actions in
``PERMISSIONS``; for an operator whose role lacks the permission they show disabled in
the footer, the command palette lists them with the reason (``denial_for``), and pressing
the key anyway, or reaching the action another way (``refuse``), tells the reason instead
of acting. The engine checks the stored role again on every change.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from textual import events
from textual.binding import Binding
from textual.screen import Screen

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
        # The screen's BINDINGS and those it inherits, most derived first.
        declared = (
            binding
            for cls in type(self._screen).__mro__
            for binding in Binding.make_bindings(vars(cls).get("BINDINGS", ()))
        )
        described = (b.description for b in declared if b.action == action)
        return next((d for d in described if d), action)

    def on_key(self, event: events.Key) -> None:
        """A disabled key still says why nothing happened.

        Only for a key the screen's own binding would answer: Textual's ``active_bindings``
        leaves out what the focused widget takes first (an input's typing and its keys,
        a table's arrows), so those go on as usual."""
        screen = self._screen
        active = screen.active_bindings.get(event.key)
        if active is not None and active.node is screen and self.refuse(active.binding.action):
            event.stop()
