"""One failure cluster's executions: ``enter`` opens one, ``r`` retries them all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from engine.access.roles import Permission
from engine.services.executions import ExecutionRow
from engine.services.failures import FailureCluster
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.screens.blast_radius import BlastRadiusScreen
from wfconsole.console.screens.execution_detail import ExecutionDetailScreen
from wfconsole.console.views.bulk_actions import BulkActions
from wfconsole.console.views.execution_columns import cells, column_widths, columns
from wfconsole.console.views.failure_clusters import retry_ids, start_cluster_retry, summary_text
from wfconsole.console.views.permission_gate import PermissionGate
from wfconsole.console.widgets.console_footer import ConsoleFooter
from wfconsole.console.widgets.console_header import ConsoleHeader
from wfconsole.console.widgets.record_table import RecordTable
from wfconsole.console.widgets.safe_text import clean

LOAD_GROUP = "failure-cluster-load"
MAX_ROWS = 1000
"""Executions listed at most (newest first); a retry still covers the whole cluster."""


class FailureClusterScreen(PermissionGate, Screen[None]):
    """The executions of one failure cluster, newest first; ``r`` needs OPERATE."""

    TITLE = "wfconsole · failure cluster"
    AUTO_FOCUS = "#cluster-table"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "retry", "Retry cluster"),
    ]
    PERMISSIONS: ClassVar[dict[str, Permission]] = {"retry": Permission.OPERATE}
    REFUSALS: ClassVar[dict[str, str]] = {"retry": "cannot retry"}

    @dataclass
    class Loaded(Message):
        """The cluster's ids and the rows of the newest of them arrived."""

        ids: list[str]
        rows: list[ExecutionRow]

    def __init__(self, backend: ConsoleBackend, cluster: FailureCluster, *, since: datetime):
        super().__init__()
        self.backend = backend
        self.cluster = cluster
        self.since = since
        self.ids: list[str] | None = None
        """The cluster's executions, read once: after a retry the same ones are shown."""
        self.rows: list[ExecutionRow] = []
        self._widths = column_widths(80)

    def compose(self) -> ComposeResult:
        """Header, what the cluster shares, its executions, footer."""
        yield ConsoleHeader()
        yield Static(id="cluster-summary")
        yield RecordTable(id="cluster-table")
        yield BulkActions(self.backend, confirm=BlastRadiusScreen)
        yield ConsoleFooter()

    @property
    def table(self) -> RecordTable:
        """The execution table."""
        return self.query_one("#cluster-table", RecordTable)

    def on_mount(self) -> None:
        """Lay out the columns and load the executions."""
        self._widths = column_widths(self.app.size.width)
        self._rebuild()
        self.reload()

    def on_resize(self, event: events.Resize) -> None:
        """Fit the workflow and error columns to the width."""
        widths = column_widths(event.size.width)
        if widths != self._widths:
            self._widths = widths
            self._rebuild()

    def reload(self) -> None:
        """Read the executions again (the cluster's ids the first time)."""
        self._load(self.ids)

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOAD_GROUP)
    def _load(self, known: list[str] | None) -> None:
        ids = known
        if ids is None:
            ids = self.backend.failure_cluster_ids(self.cluster.key, since=self.since)
        self.post_message(self.Loaded(ids, self.backend.executions_by_ids(ids[:MAX_ROWS])))

    def on_failure_cluster_screen_loaded(self, message: Loaded) -> None:
        """Show the executions that arrived."""
        self.ids = message.ids
        self.rows = message.rows
        self._rebuild()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Report a failed load; what was shown stays."""
        if event.worker.group == LOAD_GROUP and event.state == WorkerState.ERROR:
            self.notify(clean(f"could not load the cluster: {event.worker.error}"),
                        severity="error", markup=False)  # fmt: skip

    def _rebuild(self) -> None:
        table = self.table
        cursor = table.cursor_row
        table.clear(columns=True)
        for key, label, width in columns(self._widths):
            table.add_column(label, width=width, key=key)
        for row in self.rows:
            table.add_row(*cells(row, self._widths, marked=False), key=row.id)
        if self.rows:
            table.move_cursor(row=min(cursor, len(self.rows) - 1), animate=False)
        total = len(self.ids) if self.ids is not None else self.cluster.count
        summary = summary_text(self.cluster, self.since, len(self.rows), total)
        self.query_one("#cluster-summary", Static).update(summary)

    def on_record_table_row_selected(self, event: RecordTable.RowSelected) -> None:
        """Open the execution under the cursor."""
        event.stop()
        self.app.push_screen(ExecutionDetailScreen(self.backend, event.row_key))

    def action_retry(self) -> None:
        """Retry every execution of the cluster, after the blast radius."""
        if self.refuse("retry"):
            return
        operator = self.console.operator
        if self.ids is None:
            start_cluster_retry(self, self.backend, self.cluster, since=self.since, actor=operator)
        else:
            retry_ids(self, self.ids, actor=operator)

    def on_bulk_actions_applied(self, message: BulkActions.Applied) -> None:
        """Tell the outcome and show what changed."""
        self.notify(clean(message.summary), markup=False)
        self.reload()
