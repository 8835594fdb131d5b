"""The dry-run dialog: a sample trigger payload in, condition verdicts and requests out.

Nothing is sent and the database is not touched: the engine's ``dry_run`` only evaluates
conditions and renders templates. The dialog dismisses with the payload text, so the
editor can offer it again next time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea
from textual.worker import Worker, WorkerState

from engine.definitions.schema import DefinitionError, validate_definition
from engine.execution.dry_run import DryRunResult, dry_run
from wfconsole.console.views.dry_run_report import default_payload_text, dry_run_report
from wfconsole.console.widgets.safe_text import safe_text

RUN_GROUP = "dry-run"


class DryRunScreen(ModalScreen[str]):
    """What a run of the definition would do for a payload, without sending anything."""

    BINDINGS = [
        Binding("ctrl+r", "run", "Run again"),
        Binding("escape", "close", "Close"),
    ]

    @dataclass
    class Finished(Message):
        """The dry run of one payload is done (``error`` set when it could not run)."""

        result: DryRunResult | None
        error: str | None = None

    def __init__(self, document: Any, *, payload_text: str | None = None) -> None:
        super().__init__()
        self.document = document
        self.payload_text = payload_text or default_payload_text(document)
        self.result: DryRunResult | None = None

    def compose(self) -> ComposeResult:
        """The payload above the result."""
        name = self.document.get("name") if isinstance(self.document, dict) else None
        with Vertical(id="dry-run-box") as box:
            box.border_title = safe_text(f"Dry run · {name or '?'}", max_length=80)
            box.border_subtitle = "^r run · tab result · esc close"
            yield Static("Trigger payload (JSON):", id="dry-run-label")
            yield TextArea(
                self.payload_text,
                language="json",
                tab_behavior="focus",
                id="dry-run-payload",
            )
            with VerticalScroll(id="dry-run-result") as result:
                result.can_focus = True
                yield Static(Text("running…", style="dim"), id="dry-run-report")

    @property
    def payload(self) -> TextArea:
        """The payload editor."""
        return self.query_one("#dry-run-payload", TextArea)

    def on_mount(self) -> None:
        """Run at once with the sample payload."""
        self.action_run()

    def action_run(self) -> None:
        """Dry-run the definition with the payload as it is now."""
        self._run(self.payload.text)

    @work(thread=True, exclusive=True, exit_on_error=False, group=RUN_GROUP)
    def _run(self, payload_text: str) -> None:
        try:
            payload = json.loads(payload_text) if payload_text.strip() else {}
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            error = f"payload is not valid JSON: {exc.msg} at {where}"
            self.post_message(self.Finished(None, error))
            return
        except RecursionError:
            self.post_message(self.Finished(None, "payload is nested too deeply"))
            return
        try:
            definition = validate_definition(self.document)
        except DefinitionError as exc:
            self.post_message(self.Finished(None, f"definition is invalid: {exc.first_line}"))
            return
        self.post_message(self.Finished(dry_run(definition, payload)))

    def on_dry_run_screen_finished(self, message: Finished) -> None:
        """Show the verdicts and requests, or why there are none."""
        self.result = message.result
        report = self.query_one("#dry-run-report", Static)
        if message.result is None:
            report.update(safe_text(message.error, style="bold red", multiline=True))
        else:
            report.update(dry_run_report(message.result))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A dry run that crashed says so instead of hanging on "running…"."""
        if event.worker.group == RUN_GROUP and event.state == WorkerState.ERROR:
            self.query_one("#dry-run-report", Static).update(
                safe_text(f"dry run failed: {event.worker.error}", style="bold red")
            )

    def action_close(self) -> None:
        """Back to the editor, handing it the payload for next time."""
        self.dismiss(self.payload.text)
