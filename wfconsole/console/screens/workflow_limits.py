"""The limit override dialog (ADMIN): a workflow's concurrency and rate, for a while.

``WorkflowLimitsScreen(state)`` shows the limits in force, the definition's, the current
override and the runs a limit holds; it dismisses with a ``LimitRequest``: set what was
typed (``concurrency`` a whole number, ``rate`` ``N/s`` or ``N/m``, ``for`` a DURATION or
empty for until cleared), or ``clear`` the override (``ctrl+r``). Each field is checked
with the engine's parsers before the dialog closes; a bad one is said in red.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from engine.services.flow_control import FlowControlError, duration_argument
from engine.services.flow_limits import check_concurrency, check_rate
from wfconsole.console.views.flow_text import limit_state_text
from wfconsole.console.widgets.safe_text import safe_text

if TYPE_CHECKING:
    from engine.services.flow_limits import LimitState


@dataclass(frozen=True)
class LimitRequest:
    """Set the typed limits (None: left as they are), or ``clear`` the override."""

    concurrency: str | None = None
    rate: str | None = None
    for_: str | None = None
    clear: bool = False


class WorkflowLimitsScreen(ModalScreen[LimitRequest | None]):
    """Override or clear one workflow's concurrency and rate limits."""

    AUTO_FOCUS = "#limit-concurrency"
    BINDINGS = [
        Binding("ctrl+s", "save", "Set"),
        Binding("ctrl+r", "clear", "Clear override"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, state: LimitState) -> None:
        super().__init__()
        self.state = state

    def compose(self) -> ComposeResult:
        """The limits now, the three fields, the error line and the buttons."""
        name = safe_text(self.state.workflow, style="bold", max_length=60)
        with Vertical(id="limit-box") as box:
            box.border_title = "Limits"
            yield Static(Text.assemble("Limits of ", name), id="limit-title")
            yield Static(limit_state_text(self.state), id="limit-state")
            with Horizontal(classes="limit-field"):
                yield Static("concurrency", classes="limit-label")
                yield Input(placeholder="N runs at once", id="limit-concurrency")
            with Horizontal(classes="limit-field"):
                yield Static("rate", classes="limit-label")
                yield Input(placeholder="N/s or N/m", id="limit-rate")
            with Horizontal(classes="limit-field"):
                yield Static("for", classes="limit-label")
                yield Input(placeholder="30s, 10m, 1h, 2d (empty: until cleared)",
                            id="limit-for")  # fmt: skip
            yield Static(id="limit-error")
            with Horizontal(id="limit-buttons"):
                yield Button("Set (ctrl+s)", id="limit-save", variant="warning")
                yield Button("Clear override (ctrl+r)", id="limit-clear")
                yield Button("Cancel (esc)", id="limit-cancel")

    def _value(self, field: str) -> str | None:
        return self.query_one(f"#limit-{field}", Input).value.strip() or None

    def on_input_changed(self, _event: Input.Changed) -> None:
        """A new edit makes the last error stale."""
        self._show_error(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """``enter`` in a field sets the limits."""
        event.stop()
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """The buttons do what their keys do."""
        event.stop()
        actions = {"limit-save": self.action_save, "limit-clear": self.action_clear}
        actions.get(event.button.id or "", self.action_cancel)()

    def action_save(self) -> None:
        """Close with the typed limits, or say which field is wrong and stay."""
        concurrency, rate = self._value("concurrency"), self._value("rate")
        for_ = self._value("for")
        try:
            if concurrency is None and rate is None:
                raise FlowControlError("limit: give a concurrency, a rate, or both")
            if concurrency is not None:
                check_concurrency(concurrency)
            if rate is not None:
                check_rate(rate)
            duration_argument(for_, "for")
        except FlowControlError as exc:
            self._show_error(str(exc))
            return
        self.dismiss(LimitRequest(concurrency, rate, for_))

    def action_clear(self) -> None:
        """Close asking to drop the override."""
        self.dismiss(LimitRequest(clear=True))

    def action_cancel(self) -> None:
        """Close without changing anything."""
        self.dismiss(None)

    def _show_error(self, message: str | None) -> None:
        error = self.query_one("#limit-error", Static)
        error.update(safe_text(message, style="bold red", multiline=True) if message else "")
        error.set_class(message is not None, "-shown")
