"""Keys that need a permission: shown disabled for a role without it, and saying why."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import events
from textual.screen import Screen
from textual.widgets import Input, TextArea

from engine.access.roles import Permission

if TYPE_CHECKING:
    from wfconsole.app import WfConsoleApp


class PermissionKeysScreen(Screen[None]):
    """A screen whose actions named in ``PERMISSIONS`` need that permission.

    ``check_action`` shows them disabled in the footer; pressing one anyway (or choosing it
    in the palette, which reads ``denial_for``) tells the reason instead of acting.
    """

    PERMISSIONS: ClassVar[dict[str, Permission]] = {}

    @property
    def console(self) -> WfConsoleApp:
        """The app, for the operator and the role checks."""
        return cast("WfConsoleApp", self.app)

    def denial_for(self, action: str) -> str | None:
        """Why the operator may not run ``action`` (None when they may)."""
        permission = self.PERMISSIONS.get(action)
        return None if permission is None else self.console.denied(permission)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Actions the operator's role does not allow are shown disabled."""
        permission = self.PERMISSIONS.get(action)
        return True if permission is None else self.console.allowed_action(permission)

    def on_key(self, event: events.Key) -> None:
        """A disabled key still says why nothing happened."""
        if isinstance(self.focused, Input | TextArea):
            return
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            reason = self.denial_for(binding.action)
            if reason is not None:
                event.stop()
                self.notify(f"{binding.description}: {reason}", severity="warning", markup=False)
                return
