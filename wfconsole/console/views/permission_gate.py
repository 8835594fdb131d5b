"""Gate a screen's retry/cancel-style actions on ``Permission.OPERATE``.

Mixed into a ``Screen`` (before it in the bases): the gated actions show disabled in the
footer for a VIEWER, the command palette lists them with the reason (``denial_for``),
and pressing their key anyway says why instead of doing nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import events
from textual.widgets import Input

from engine.access.roles import Permission

if TYPE_CHECKING:
    from textual.app import App

    from wfconsole.app import WfConsoleApp


class OperateGate:
    """Refuses ``OPERATE_ACTIONS`` (action name → its key) unless the operator may operate."""

    OPERATE_ACTIONS: ClassVar[dict[str, str]] = {}

    if TYPE_CHECKING:
        app: App[object]

    @property
    def app_console(self) -> WfConsoleApp:
        """The app, for the operator and role checks."""
        return cast("WfConsoleApp", self.app)

    def operate_denied(self) -> str | None:
        """Why the operator may not retry or cancel, or None."""
        return self.app_console.denied(Permission.OPERATE)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Gated actions are shown disabled without OPERATE."""
        if action in self.OPERATE_ACTIONS:
            return self.app_console.allowed_action(Permission.OPERATE)
        return True

    def denial_for(self, action: str) -> str | None:
        """Why an action is unavailable (the command palette shows it)."""
        return self.operate_denied() if action in self.OPERATE_ACTIONS else None

    def refuse(self, action: str) -> bool:
        """Tell why ``action`` cannot be done and return True, or return False if it can."""
        reason = self.operate_denied()
        if reason is None:
            return False
        self.app.notify(f"cannot {action}: {reason}", severity="warning", markup=False)
        return True

    def on_key(self, event: events.Key) -> None:
        """A disabled key still says why nothing happened (not while typing in an input)."""
        actions = {key: action for action, key in self.OPERATE_ACTIONS.items()}
        typing = isinstance(self.app.focused, Input)
        if event.key in actions and not typing and self.refuse(actions[event.key]):
            event.stop()
