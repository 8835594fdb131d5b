"""The failures section: failed executions clustered by workflow, failing action and error.

The clusters of one time window (``t`` cycles 1h / 24h / 7d) refresh on the console's
interval while the screen is shown; ``enter`` lists a cluster's executions and ``r``
retries the whole cluster after showing its blast radius.
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from engine.access.roles import Permission
from engine.models import utcnow
from engine.services.failures import WINDOWS, FailureCluster
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.screens.blast_radius import BlastRadiusScreen
from wfconsole.console.screens.confirm import ConfirmScreen
from wfconsole.console.screens.failure_cluster import FailureClusterScreen
from wfconsole.console.views.blast_radius_text import plural
from wfconsole.console.views.bulk_actions import BulkActions
from wfconsole.console.views.display import first_line, short_time
from wfconsole.console.views.failure_clusters import matches, row_key, start_cluster_retry
from wfconsole.console.views.failure_columns import Column, cells, columns
from wfconsole.console.views.permission_gate import PermissionGate
from wfconsole.console.views.refresh_loop import RefreshLoop
from wfconsole.console.views.replay_text import cluster_text
from wfconsole.console.widgets.console_footer import ConsoleFooter
from wfconsole.console.widgets.console_header import ConsoleHeader
from wfconsole.console.widgets.filter_bar import FilterBar
from wfconsole.console.widgets.record_table import RecordTable, RowDoesNotExist
from wfconsole.console.widgets.safe_text import clean, safe_text

if TYPE_CHECKING:
    from engine.services.replay import ReplayPlan

LOAD_GROUP = "failures-load"
REPLAY_GROUP = "failures-replay"
DEFAULT_WINDOW = "24h"
SLOW_FACTOR = 5
"""A refresh that took s seconds waits at least SLOW_FACTOR·s before the next one."""


class FailuresScreen(PermissionGate, Screen[None]):
    """Failure clusters of a time window, the biggest first; ``r`` needs OPERATE."""

    TITLE = "wfconsole · failures"
    AUTO_FOCUS = "#failures-table"
    BINDINGS = [
        Binding("slash", "open_filter", "Filter", key_display="/"),
        Binding("t", "next_window", "Window"),
        Binding("r", "retry", "Retry cluster"),
        Binding("R", "replay", "Replay cluster", key_display="R"),
    ]
    PERMISSIONS: ClassVar[dict[str, Permission]] = {
        "retry": Permission.OPERATE,
        "replay": Permission.OPERATE,
    }
    REFUSALS: ClassVar[dict[str, str]] = {"retry": "cannot retry", "replay": "cannot replay"}

    @dataclass
    class ClustersLoaded(Message):
        """A window's clusters arrived; ``seconds`` is how long the query took."""

        generation: int
        since: datetime
        clusters: list[FailureCluster]
        seconds: float

    def __init__(self, backend: ConsoleBackend, *, refresh_interval: float = 2.0) -> None:
        super().__init__()
        self.backend = backend
        self.refresh_interval = refresh_interval
        self.window = DEFAULT_WINDOW
        self.since: datetime | None = None
        self.clusters: list[FailureCluster] = []
        self.text_filter = ""
        self.loaded = False
        self._generation = 0
        self._layout: list[Column] = columns(80)
        self._last_seconds = 0.0
        self._refresh = RefreshLoop(self, self.reload)
        self._last_error: str | None = None

    def compose(self) -> ComposeResult:
        """Header, status line, filter, clusters, the highlighted cluster's sample, footer."""
        yield ConsoleHeader()
        yield Static(id="failures-status")
        yield FilterBar(
            placeholder="words in workflow, action, error or kind", id="failures-filter"
        )
        yield RecordTable(id="failures-table")
        yield Static(id="failures-sample")
        yield BulkActions(self.backend, confirm=BlastRadiusScreen)
        yield ConsoleFooter()

    @property
    def table(self) -> RecordTable:
        """The cluster table."""
        return self.query_one("#failures-table", RecordTable)

    @property
    def filter_bar(self) -> FilterBar:
        """The word filter."""
        return self.query_one("#failures-filter", FilterBar)

    def on_mount(self) -> None:
        """Lay out the columns and load the clusters."""
        self._layout_columns(self.app.size.width)
        self.reload()

    def on_resize(self, event: events.Resize) -> None:
        """Fit the workflow and error columns to the width."""
        if columns(event.size.width) != self._layout:
            self._layout_columns(event.size.width)

    # --- loading -------------------------------------------------------------------------

    def reload(self) -> None:
        """Fetch the window's clusters now; completion schedules the next refresh."""
        self._fetch(self._generation, self.window)

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOAD_GROUP)
    def _fetch(self, generation: int, window: str) -> None:
        started = time.monotonic()
        since = utcnow() - WINDOWS[window]
        clusters = self.backend.failure_clusters(since=since)
        self.post_message(
            self.ClustersLoaded(generation, since, clusters, time.monotonic() - started)
        )

    def on_failures_screen_clusters_loaded(self, message: ClustersLoaded) -> None:
        """Show the clusters that arrived, unless the window changed meanwhile."""
        self._last_seconds = message.seconds
        if message.generation != self._generation:
            return
        self.loaded = True
        self.since = message.since
        self.clusters = message.clusters
        self._fill_rows()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Report failures once; a finished refresh schedules the next (Dolphie's loop)."""
        if event.worker.group == REPLAY_GROUP and event.state == WorkerState.ERROR:
            self.notify(clean(f"cannot replay: {event.worker.error}"), severity="error",
                        markup=False)  # fmt: skip
            return
        if event.worker.group != LOAD_GROUP:
            return
        if event.state == WorkerState.ERROR:
            message = clean(f"could not load failures: {event.worker.error}")
            if message != self._last_error:
                self.notify(message, severity="error", markup=False)
            self._last_error = message
        elif event.state == WorkerState.SUCCESS:
            self._last_error = None
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
            # A slow window (many distinct errors) is read less often, never back to back.
            self._refresh.schedule(max(self.refresh_interval, SLOW_FACTOR * self._last_seconds))

    def on_screen_resume(self) -> None:
        """Catch up at once when shown again after missing a refresh."""
        self._refresh.resume()

    # --- showing -------------------------------------------------------------------------

    def visible_clusters(self) -> list[FailureCluster]:
        """The clusters matching every word of the filter (case-insensitive)."""
        words = self.text_filter.casefold().split()
        return [c for c in self.clusters if matches(c, words)] if words else self.clusters

    def _layout_columns(self, screen_width: int) -> None:
        self._layout = columns(screen_width)
        self.table.clear(columns=True)
        for key, label, width in self._layout:
            self.table.add_column(label, width=width, key=key)
        self._fill_rows()

    def _fill_rows(self) -> None:
        table = self.table
        selected = self._selected_key()
        table.clear()
        for cluster in self.visible_clusters():
            table.add_row(*cells(cluster, self._layout), key=row_key(cluster))
        if selected is not None:
            with suppress(RowDoesNotExist):
                table.move_cursor(row=table.get_row_index(selected), animate=False)
        self._show_status()
        self._show_sample()

    def _selected_key(self) -> str | None:
        return self.table.cursor_key

    def selected_cluster(self) -> FailureCluster | None:
        """The cluster under the cursor."""
        selected = self._selected_key()
        return next((c for c in self.clusters if row_key(c) == selected), None)

    def _show_status(self) -> None:
        if not self.loaded:
            status = Text(f"last {self.window} · loading…")
        else:
            visible = self.visible_clusters()
            failed = sum(c.count for c in visible)
            since = short_time(self.since).plain if self.since else "-"
            status = Text(
                f"last {self.window} (since {since} UTC) · {len(visible)} clusters · "
                f"{failed:,} failed executions"
            )
            if not self.clusters:
                status = Text(f"no failed executions in the last {self.window} (since {since} UTC)")
        if self.text_filter:
            status.append_text(
                Text.assemble(" · filter ", safe_text(self.text_filter, style="bold"))
            )
        self.query_one("#failures-status", Static).update(status)

    def _show_sample(self) -> None:
        cluster = self.selected_cluster()
        sample = Text()
        if cluster is not None:
            sample = Text.assemble(
                ("sample  ", "bold"),
                safe_text(first_line(cluster.sample_error) or "(no message)", multiline=True),
            )
        self.query_one("#failures-sample", Static).update(sample)

    def on_record_table_row_highlighted(self, _event: RecordTable.RowHighlighted) -> None:
        """Show a full message of the highlighted cluster."""
        self._show_sample()

    def on_record_table_row_selected(self, event: RecordTable.RowSelected) -> None:
        """List the executions of the chosen cluster."""
        event.stop()
        cluster = self.selected_cluster()
        if cluster is not None and self.since is not None:
            self.app.push_screen(FailureClusterScreen(self.backend, cluster, since=self.since))

    # --- keys ----------------------------------------------------------------------------

    def action_open_filter(self) -> None:
        """Show the word filter."""
        self.filter_bar.open(self.text_filter)

    def on_input_changed(self, event: Input.Changed) -> None:
        """Narrow the rows as the operator types."""
        if event.input is self.filter_bar:
            self.text_filter = event.value
            self._fill_rows()

    def on_filter_bar_applied(self, _message: FilterBar.Applied) -> None:
        """Keep the filter and go back to the table."""
        self.table.focus()

    def on_filter_bar_cleared(self, _message: FilterBar.Cleared) -> None:
        """Show every cluster again."""
        self.text_filter = ""
        self._fill_rows()
        self.table.focus()

    def action_next_window(self) -> None:
        """Switch to the next time window (1h → 24h → 7d → 1h) and load it."""
        names = list(WINDOWS)
        self.window = names[(names.index(self.window) + 1) % len(names)]
        self._generation += 1
        self.loaded = False
        self._show_status()
        self.reload()

    def action_retry(self) -> None:
        """Retry every execution of the highlighted cluster, after the blast radius."""
        if self.refuse("retry"):
            return
        cluster = self.selected_cluster()
        if cluster is None or self.since is None:
            self.notify("no cluster to retry", severity="warning")
            return
        start_cluster_retry(
            self, self.backend, cluster, since=self.since, actor=self.console.operator
        )

    def action_replay(self) -> None:
        """Replay every execution of the highlighted cluster from its failed step, after a
        preview of what that sends."""
        if self.refuse("replay"):
            return
        cluster = self.selected_cluster()
        if cluster is None or self.since is None:
            self.notify("no cluster to replay", severity="warning")
            return
        self._plan_cluster_replay(cluster, self.since, self.console.operator)

    @work(thread=True, exclusive=True, exit_on_error=False, group=REPLAY_GROUP)
    def _plan_cluster_replay(self, cluster: FailureCluster, since: datetime, actor: str) -> None:
        ids = self.backend.failure_cluster_ids(cluster.key, since=since)
        if not ids:
            self.app.call_from_thread(self.notify, "nothing left to replay in this cluster",
                                      severity="warning")  # fmt: skip
            return
        plans = self.backend.replay_executions(ids, dry_run=True, actor=actor)
        self.app.call_from_thread(self._confirm_cluster_replay, ids, plans, actor)

    def _confirm_cluster_replay(self, ids: list[str], plans: list[ReplayPlan], actor: str) -> None:
        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._replay_cluster(ids, actor)

        question = cluster_text(plans)
        if any(plan.disabled for plan in plans):
            self.notify("the workflow is disabled: enable it to replay", severity="warning")
            return
        title = f"Replay {plural(len(ids), 'execution')}"
        yes = f"create {plural(len(ids), 'replay')}"
        self.app.push_screen(ConfirmScreen(title, question, yes=yes), answered)

    @work(thread=True, exclusive=True, exit_on_error=False, group=REPLAY_GROUP)
    def _replay_cluster(self, ids: list[str], actor: str) -> None:
        plans = self.backend.replay_executions(ids, actor=actor)
        created = [plan.new_id for plan in plans if plan.new_id]
        summary = f"{plural(len(created), 'replay')} created"
        if created:
            summary += f" (newest first: {created[0]}…)" if len(created) > 1 else f": {created[0]}"
        self.app.call_from_thread(self.notify, summary, markup=False)

    def on_bulk_actions_applied(self, message: BulkActions.Applied) -> None:
        """Tell the outcome and show what changed."""
        self.notify(clean(message.summary), markup=False)
        self.reload()
