"""One execution in full: status, timings, retries, trigger data, steps and log lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from engine.access.roles import Permission
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.views.execution_text import json_text, logs_text, steps_text, summary_text
from wfconsole.console.views.permission_gate import PermissionGate
from wfconsole.console.widgets.console_footer import ConsoleFooter
from wfconsole.console.widgets.console_header import ConsoleHeader
from wfconsole.console.widgets.safe_text import clean, safe_text

if TYPE_CHECKING:
    from engine.services.executions import ExecutionDetail

LOAD_GROUP = "execution-detail-load"


class ExecutionDetailScreen(PermissionGate, Screen[None]):
    """Everything stored about one execution; ``escape`` goes back to the list."""

    TITLE = "wfconsole · execution"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("equals_sign", "diff", "Diff", key_display="="),
        Binding("R", "replay", "Replay", key_display="R"),
    ]
    PERMISSIONS: ClassVar[dict[str, Permission]] = {"replay": Permission.OPERATE}
    REFUSALS: ClassVar[dict[str, str]] = {"replay": "cannot replay"}

    @dataclass
    class DetailLoaded(Message):
        """The execution arrived from the backend."""

        detail: ExecutionDetail

    def __init__(self, backend: ConsoleBackend, execution_id: str) -> None:
        super().__init__()
        self.backend = backend
        self.execution_id = execution_id
        self.detail: ExecutionDetail | None = None

    def compose(self) -> ComposeResult:
        """Header, the sections in one scrolling column, footer."""
        yield ConsoleHeader()
        with VerticalScroll(id="detail-body"):
            yield Static(Text(f"loading {clean(self.execution_id)}…"), id="detail-summary")
            yield Static("Trigger data", classes="detail-heading")
            yield Static(id="detail-trigger")
            yield Static("Result", classes="detail-heading")
            yield Static(id="detail-result")
            yield Static("Steps", classes="detail-heading")
            yield Static(id="detail-steps")
            yield Static("Log", classes="detail-heading")
            yield Static(id="detail-logs")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        """Load the execution."""
        self.query_one("#detail-body").focus()
        self.reload()

    def reload(self) -> None:
        """Fetch the execution again (in a worker)."""
        self._fetch_detail()

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOAD_GROUP)
    def _fetch_detail(self) -> None:
        self.post_message(self.DetailLoaded(self.backend.get_execution(self.execution_id)))

    def on_execution_detail_screen_detail_loaded(self, message: DetailLoaded) -> None:
        """Fill every section."""
        detail = self.detail = message.detail
        self.query_one("#detail-summary", Static).update(summary_text(detail))
        self.query_one("#detail-trigger", Static).update(
            safe_text(json_text(detail.trigger_data), multiline=True)
        )
        result = "-" if detail.result is None else json_text(detail.result)
        self.query_one("#detail-result", Static).update(safe_text(result, multiline=True))
        self.query_one("#detail-steps", Static).update(steps_text(detail))
        self.query_one("#detail-logs", Static).update(logs_text(detail))

    def action_diff(self) -> None:
        """Compare this execution with the last success of its workflow (once loaded)."""
        if self.detail is None:
            return
        from wfconsole.console.screens.run_diff import RunDiffScreen  # loaded on first use

        row = self.detail.row
        self.app.push_screen(RunDiffScreen(self.backend, row.id, workflow=row.workflow))

    def action_replay(self) -> None:
        """Replay this execution after previewing what it would send."""
        if self.refuse("replay"):
            return
        from wfconsole.console.screens.replay import open_replay  # loaded on first use

        open_replay(self, self.backend, self.execution_id)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Say what went wrong when the execution cannot be loaded."""
        if event.worker.group != LOAD_GROUP or event.state != WorkerState.ERROR:
            return
        from engine.services.executions import ExecutionNotFound  # loaded by the worker

        error = event.worker.error
        reason = str(error) if isinstance(error, ExecutionNotFound) else f"cannot load: {error}"
        self.query_one("#detail-summary", Static).update(safe_text(reason, style="red"))
