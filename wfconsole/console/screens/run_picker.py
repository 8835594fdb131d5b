"""The run diff's ``tab``: pick the run to compare with among the workflow's recent runs."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.views.display import duration, short_time, status_text
from wfconsole.console.widgets.record_table import RecordTable, RowDoesNotExist
from wfconsole.console.widgets.safe_text import clean, safe_text

if TYPE_CHECKING:
    from engine.services.executions import ExecutionRow

PICK_LIMIT = 50
"""The newest runs of the workflow offered."""
LOAD_GROUP = "run-picker-load"


class RunPickerScreen(ModalScreen[str | None]):
    """Dismisses with the id of the run picked (``enter``), or None (``escape``)."""

    AUTO_FOCUS = "#picker-table"
    BINDINGS = [Binding("escape", "cancel", "Keep")]

    @dataclass
    class RunsLoaded(Message):
        """The workflow's newest runs arrived."""

        rows: list[ExecutionRow]

    def __init__(
        self, backend: ConsoleBackend, workflow: str, *, exclude: str, current: str | None
    ) -> None:
        super().__init__()
        self.backend = backend
        self.workflow = workflow
        self.exclude = exclude
        """The run being looked at (it is not offered: a run equals itself)."""
        self.current = current
        """The run compared with now (the cursor starts there)."""

    def compose(self) -> ComposeResult:
        """What to pick, the runs, the keys."""
        with Vertical(id="picker-box") as box:
            box.border_title = "Compare with…"
            box.border_subtitle = "enter picks · esc keeps"
            yield Static(
                Text.assemble("runs of ", safe_text(self.workflow, style="bold", max_length=50),
                              f", newest first (the last {PICK_LIMIT})…"),
                id="picker-title",
            )  # fmt: skip
            yield RecordTable(id="picker-table")

    @property
    def table(self) -> RecordTable:
        """The runs."""
        return self.query_one("#picker-table", RecordTable)

    def on_mount(self) -> None:
        """Lay out the columns and read the runs."""
        self.table.add_column("created", width=14, key="created")
        self.table.add_column("status", width=9, key="status")
        self.table.add_column("duration", width=8, key="duration")
        self.table.add_column("execution", width=36, key="id")
        self._fetch()

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOAD_GROUP)
    def _fetch(self) -> None:
        rows = self.backend.list_executions(workflow=self.workflow, limit=PICK_LIMIT + 1)
        self.post_message(self.RunsLoaded(rows))

    def on_run_picker_screen_runs_loaded(self, message: RunsLoaded) -> None:
        """List the runs, the cursor on the one compared with now."""
        rows = [row for row in message.rows if row.id != self.exclude][:PICK_LIMIT]
        table = self.table
        for row in rows:
            table.add_row(
                short_time(row.created_at), status_text(row.status),
                Text(duration(row.duration_ms), justify="right"), safe_text(row.id),
                key=row.id,
            )  # fmt: skip
        if self.current is not None:
            with suppress(RowDoesNotExist):
                table.move_cursor(row=table.get_row_index(self.current))
        title = self.query_one("#picker-title", Static)
        if not rows:
            title.update(
                Text.assemble("no other run of ", safe_text(self.workflow, max_length=50),
                              " to compare with")
            )  # fmt: skip
        else:
            title.update(
                Text.assemble("runs of ", safe_text(self.workflow, style="bold", max_length=50),
                              f", newest first ({len(rows)})")
            )  # fmt: skip

    def on_record_table_row_selected(self, event: RecordTable.RowSelected) -> None:
        """Compare with this run."""
        event.stop()
        self.dismiss(event.row_key)

    def action_cancel(self) -> None:
        """Keep comparing with the run compared with now."""
        self.dismiss(None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Say when the runs cannot be read."""
        if event.worker.group == LOAD_GROUP and event.state == WorkerState.ERROR:
            self.query_one("#picker-title", Static).update(
                safe_text(f"cannot list the runs: {clean(event.worker.error)}", style="red")
            )
