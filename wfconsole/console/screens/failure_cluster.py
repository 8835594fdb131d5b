"""One failure cluster's executions: ``enter`` opens one, ``r`` retries them all.

Also ``start_cluster_retry``, which the cluster list shares: it reads the cluster's
execution ids in a worker, then hands them to the screen's ``BulkActions`` (blast radius
preview, confirmation, retry through the backend with the operator's role).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static
from textual.worker import Worker, WorkerState

from engine.access.roles import Permission
from engine.services.executions import ExecutionRow
from engine.services.failures import FailureCluster
from wfconsole.backend import ConsoleBackend
from wfconsole.display import short_time
from wfconsole.screens.execution_columns import cells, column_widths, columns
from wfconsole.screens.execution_detail import ExecutionDetailScreen
from wfconsole.widgets.bulk_actions import BulkActions
from wfconsole.widgets.console_footer import ConsoleFooter
from wfconsole.widgets.record_table import RecordTable
from wfconsole.widgets.safe_text import clean, safe_text

if TYPE_CHECKING:
    from wfconsole.app import WfConsoleApp

LOAD_GROUP = "failure-cluster-load"
IDS_GROUP = "failure-cluster-ids"
MAX_ROWS = 1000
"""Executions listed at most (newest first); a retry still covers the whole cluster."""


def start_cluster_retry(screen: Screen[None], cluster: FailureCluster, *, since: datetime) -> None:
    """Read the cluster's ids in a worker, then preview and confirm their retry."""
    app = cast("WfConsoleApp", screen.app)

    def load_ids() -> None:
        try:
            ids = app.backend.failure_cluster_ids(cluster.key, since=since)
        except Exception as exc:  # the database went away: say so, keep the screen
            message = clean(f"could not read the cluster: {exc}")
            app.call_from_thread(screen.notify, message, severity="error", markup=False)
            return
        app.call_from_thread(retry_ids, screen, ids)

    screen.run_worker(load_ids, thread=True, exclusive=True, group=IDS_GROUP)


def retry_ids(screen: Screen[None], ids: list[str]) -> None:
    """Preview, confirm and retry ``ids`` with the screen's ``BulkActions``."""
    if not ids:
        screen.notify("nothing left to retry in this cluster", severity="warning")
        return
    operator = cast("WfConsoleApp", screen.app).operator
    screen.query_one(BulkActions).start("retry", ids, actor=operator)


def summary_text(cluster: FailureCluster, since: datetime, shown: int, total: int) -> Text:
    """What the cluster shares, and how many of its executions are listed."""
    kind = ("transient", "yellow") if cluster.transient else ("permanent", "red")
    listed = f"{total:,}" if shown == total else f"newest {shown:,} of {total:,}"
    return Text.assemble(
        ("workflow ", "bold"), safe_text(cluster.workflow, max_length=40),
        ("  action ", "bold"), safe_text(cluster.action_type, max_length=24),
        ("  ", ""), kind,
        "\n", ("error    ", "bold"), safe_text(cluster.signature or "(no message)"),
        "\n", ("sample   ", "bold"), safe_text(cluster.sample_error or "(no message)"),
        "\n", f"{listed} executions since {short_time(since).plain} UTC",
    )  # fmt: skip


class ClusterRetryScreen(Screen[None]):
    """What the failure screens share: ``r`` needs OPERATE, a finished retry reloads.

    Subclasses bind ``r`` to ``retry`` and provide ``reload`` and ``action_retry`` (which
    starts with ``retry_denied``).
    """

    @property
    def console(self) -> WfConsoleApp:
        """The app, for the operator and role checks."""
        return cast("WfConsoleApp", self.app)

    def reload(self) -> None:
        """Read what the screen shows again."""
        raise NotImplementedError

    def retry_key_active(self) -> bool:
        """Whether ``r`` is meant for the retry now (not typed into an input)."""
        return True

    def retry_denied(self) -> bool:
        """Say why the operator may not retry, if so; True then."""
        reason = self.console.denied(Permission.OPERATE)
        if reason is not None:
            self.notify(f"cannot retry: {reason}", severity="warning", markup=False)
        return reason is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Retry needs OPERATE: shown disabled otherwise."""
        if action == "retry":
            return self.console.allowed_action(Permission.OPERATE)
        return True

    def denial_for(self, action: str) -> str | None:
        """Why an action is unavailable (the command palette shows it)."""
        return self.console.denied(Permission.OPERATE) if action == "retry" else None

    def on_key(self, event: events.Key) -> None:
        """A disabled ``r`` still says why nothing happened."""
        if event.key == "r" and self.retry_key_active():
            reason = self.console.denied(Permission.OPERATE)
            if reason is not None:
                event.stop()
                self.notify(f"cannot retry: {reason}", severity="warning", markup=False)

    def on_bulk_actions_applied(self, message: BulkActions.Applied) -> None:
        """Tell the outcome and show what changed."""
        self.notify(clean(message.summary), markup=False)
        self.reload()


class FailureClusterScreen(ClusterRetryScreen):
    """The executions of one failure cluster, newest first."""

    TITLE = "wfconsole · failure cluster"
    AUTO_FOCUS = "#cluster-table"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "retry", "Retry cluster"),
    ]

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
        yield Header()
        yield Static(id="cluster-summary")
        yield RecordTable(id="cluster-table")
        yield BulkActions(self.backend)
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
        if self.retry_denied():
            return
        if self.ids is None:
            start_cluster_retry(self, self.cluster, since=self.since)
        else:
            retry_ids(self, self.ids)
