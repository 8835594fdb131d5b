"""The hold dialog of the outbound section: which destination, and for how long.

``HoldDestinationScreen(destination)`` is a ``ModalScreen[HoldRequest | None]``; the
destination field starts with the highlighted one (any ``HOST[:PORT]`` can be typed, one
not called yet too), the duration is optional (empty: until released). Both are checked
with the engine's parsers before it closes; a bad one is said in red and it stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from engine.services.destinations import InvalidDestination, parse_destination
from engine.services.flow_control import FlowControlError, duration_argument
from wfconsole.console.widgets.safe_text import safe_text


@dataclass(frozen=True)
class HoldRequest:
    """Hold ``destination`` (canonical ``HOST[:PORT]``) for ``for_`` (None: until released)."""

    destination: str
    for_: timedelta | None


class HoldDestinationScreen(ModalScreen[HoldRequest | None]):
    """Asks which destination to hold and for how long."""

    AUTO_FOCUS = "#hold-for"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, destination: str = "") -> None:
        super().__init__()
        self.destination = destination

    def compose(self) -> ComposeResult:
        """What a hold does, the two fields, the error line, the buttons."""
        with Vertical(id="hold-box") as box:
            box.border_title = "Hold destination"
            yield Static(
                "Steps calling it wait (waiting: destination): they neither fail nor spend "
                "a retry, and continue when it is released.",
                id="hold-about",
            )
            with Horizontal(classes="hold-field"):
                yield Static("destination", classes="hold-label")
                yield Input(self.destination, placeholder="HOST[:PORT]", id="hold-destination")
            with Horizontal(classes="hold-field"):
                yield Static("for", classes="hold-label")
                yield Input(placeholder="30s, 10m, 1h, 2d (empty: until released)",
                            id="hold-for")  # fmt: skip
            yield Static(id="hold-error")
            with Horizontal(id="hold-buttons"):
                yield Button("Hold (enter)", id="hold-confirm", variant="warning")
                yield Button("Cancel (esc)", id="hold-cancel")

    def on_input_changed(self, _event: Input.Changed) -> None:
        """A new edit makes the last error stale."""
        self._show_error(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """``enter`` in either field holds."""
        event.stop()
        self._hold()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """The buttons do what their keys do."""
        event.stop()
        if event.button.id == "hold-confirm":
            self._hold()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        """Close without holding anything."""
        self.dismiss(None)

    def _hold(self) -> None:
        destination = self.query_one("#hold-destination", Input).value
        for_text = self.query_one("#hold-for", Input).value.strip() or None
        try:
            name = parse_destination(destination)
            duration = duration_argument(for_text, "for")
        except (InvalidDestination, FlowControlError) as exc:
            self._show_error(str(exc))
            return
        self.dismiss(HoldRequest(name, duration))

    def _show_error(self, message: str | None) -> None:
        error = self.query_one("#hold-error", Static)
        error.update(safe_text(message, style="bold red", multiline=True) if message else "")
        error.set_class(message is not None, "-shown")
