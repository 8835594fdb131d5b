"""The "run now" dialog: a JSON object as the trigger data, checked before anything runs."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

from wfconsole.console.views.run_payload import parse_payload
from wfconsole.console.widgets.safe_text import safe_text


class RunWorkflowScreen(ModalScreen[dict[str, Any] | None]):
    """Dismisses with the payload to run the workflow with, or None when cancelled."""

    AUTO_FOCUS = "#run-payload"
    BINDINGS = [
        Binding("ctrl+r", "run", "Run"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, workflow: str, payload: str = "{}") -> None:
        super().__init__()
        self.workflow = workflow
        self.initial_payload = payload

    def compose(self) -> ComposeResult:
        """The workflow's name, the payload editor, the error line and the two buttons."""
        with Vertical(id="run-box") as box:
            box.border_title = "Run now"
            yield Static(
                Text.assemble("Run ", safe_text(self.workflow, style="bold", max_length=60),
                              " with this trigger data (a JSON object):"),
                id="run-title",
            )  # fmt: skip
            yield TextArea(self.initial_payload, id="run-payload", tab_behavior="focus")
            yield Static(id="run-error")
            with Horizontal(id="run-buttons"):
                yield Button("Run (ctrl+r)", id="run-confirm", variant="primary")
                yield Button("Cancel (esc)", id="run-cancel")

    def on_mount(self) -> None:
        """Start typing inside the braces of the empty object."""
        if self.initial_payload == "{}":
            self.query_one("#run-payload", TextArea).cursor_location = (0, 1)

    @property
    def payload_text(self) -> str:
        """What the operator typed."""
        return self.query_one("#run-payload", TextArea).text

    def on_text_area_changed(self, _event: TextArea.Changed) -> None:
        """A new edit makes the last error stale."""
        self._show_error(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """The buttons do what their keys do."""
        event.stop()
        if event.button.id == "run-confirm":
            self.action_run()
        else:
            self.action_cancel()

    def action_run(self) -> None:
        """Close with the payload, or show why it is not a JSON object and stay."""
        try:
            payload = parse_payload(self.payload_text)
        except ValueError as exc:
            self._show_error(str(exc))
            return
        self.dismiss(payload)

    def action_cancel(self) -> None:
        """Close without running anything."""
        self.dismiss(None)

    def _show_error(self, message: str | None) -> None:
        error = self.query_one("#run-error", Static)
        error.update(safe_text(message, style="bold red", multiline=True) if message else "")
        error.set_class(message is not None, "-shown")
