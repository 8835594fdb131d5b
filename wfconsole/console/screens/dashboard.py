"""The dashboard: queue depth, the last hour's throughput and failures, the last day's rates.

Refreshed every ``console.refresh_interval`` seconds by Dolphie's loop: a thread worker
fetches, and its completion schedules the next tick; a tick that falls while the screen
is hidden (another section, a dialog on top) is skipped and caught up on return. A
failed refresh keeps the last figures and says why in the status line. While any
workflow is paused a banner under the status line names them and their held runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Sparkline, Static
from textual.worker import Worker, WorkerState

from engine.services.dashboard import DashboardMetrics
from engine.services.flow_control import HeldSummary
from engine.services.health import HealthReport
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.host import console_host
from wfconsole.console.screens.alerts import AlertsScreen
from wfconsole.console.views.dashboard_figures import DEPTH_TILES, day_line, depth_figures
from wfconsole.console.views.dashboard_lists import (
    latest_failure_rows,
    list_widths,
    refill,
    top_failing_rows,
)
from wfconsole.console.views.display import first_line
from wfconsole.console.views.execution_filter import ExecutionFilter
from wfconsole.console.views.flow_text import paused_banner
from wfconsole.console.views.refresh_loop import RefreshLoop
from wfconsole.console.widgets.console_footer import ConsoleFooter
from wfconsole.console.widgets.console_header import ConsoleHeader
from wfconsole.console.widgets.record_table import RecordTable
from wfconsole.console.widgets.safe_text import clean, safe_text

REFRESH_GROUP = "dashboard-refresh"


class DashboardScreen(Screen[None]):
    """Live figures of the deployment; ``enter`` on a failure lists the executions behind it."""

    TITLE = "wfconsole · dashboard"
    AUTO_FOCUS = "#dashboard-top-failing"
    REPORTS_HEALTH: ClassVar[bool] = True
    """Its own refresh reports health, so the app's periodic check skips it."""
    BINDINGS = [Binding("a", "show_alerts", "Alerts")]

    @dataclass
    class Loaded(Message):
        """A refresh arrived."""

        metrics: DashboardMetrics
        paused: list[HeldSummary] | None = None
        """The paused workflows (None: they could not be read this time)."""

    @dataclass
    class Failed(Message):
        """A refresh failed; ``health`` says whether the database or the queue is down."""

        error: str
        health: HealthReport

    def __init__(
        self,
        backend: ConsoleBackend,
        *,
        refresh_interval: float = 2.0,
        now: datetime | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.refresh_interval = refresh_interval
        self.fixed_now = now
        """A fixed clock for tests and snapshots; None: the real time at each refresh."""
        self.metrics: DashboardMetrics | None = None
        self.error: str | None = None
        self._refresh = RefreshLoop(self, self.reload)
        self._refresh.missed = True  # the first showing loads at once
        self._latest_workflows: dict[str, str] = {}
        self._widths = list_widths(80)

    def compose(self) -> ComposeResult:
        """Status line, depth tiles, sparklines, the day's line, the two failure lists."""
        yield ConsoleHeader()
        yield Static("loading…", id="dashboard-status")
        yield Static(id="dashboard-paused")
        with Horizontal(id="dashboard-depth"):
            for key, label in DEPTH_TILES:
                tile = Static("-", id=f"depth-{key}", classes="depth-tile", markup=False)
                tile.border_title = label
                yield tile
        with Horizontal(id="dashboard-activity"):
            with Vertical(classes="activity"):
                yield Static(id="finished-label", classes="tile-label")
                yield Sparkline([], id="finished-spark")
            with Vertical(classes="activity"):
                yield Static(id="failed-label", classes="tile-label")
                yield Sparkline([], id="failed-spark")
        yield Static(id="dashboard-day")
        with Horizontal(id="dashboard-lists"):
            with Vertical(id="top-failing-box"):
                yield Static("Top failing workflows · 24 h", classes="list-title")
                yield RecordTable(id="dashboard-top-failing")
            with Vertical(id="latest-failures-box"):
                yield Static("Latest failures", classes="list-title")
                yield RecordTable(id="dashboard-latest-failures")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        """Lay out the lists for the terminal's width."""
        self._widths = list_widths(self.app.size.width)
        self._fill_lists()

    def on_resize(self, event: events.Resize) -> None:
        """Fit the lists' columns to the width."""
        widths = list_widths(event.size.width)
        if widths != self._widths:
            self._widths = widths
            self._fill_lists()

    # --- the refresh loop ----------------------------------------------------------------

    def reload(self) -> None:
        """Refresh now; its completion schedules the next tick."""
        self._refresh.missed = False
        self._fetch(self.metrics)

    @work(thread=True, exclusive=True, exit_on_error=False, group=REFRESH_GROUP)
    def _fetch(self, previous: DashboardMetrics | None) -> None:
        try:
            metrics = self.backend.dashboard_metrics(now=self.fixed_now, previous=previous)
        except Exception as exc:  # shown in the status line; the last figures stay
            self.post_message(self.Failed(clean(first_line(str(exc))), self.backend.health()))
            return
        try:
            paused: list[HeldSummary] | None = self.backend.paused_workflows()
        except Exception:  # the figures still show; the banner keeps its last state
            paused = None
        self.post_message(self.Loaded(metrics, paused))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A finished refresh schedules the next one (Dolphie's loop)."""
        if event.worker.group != REFRESH_GROUP:
            return
        if event.state == WorkerState.ERROR:  # even health() failed: say so, keep going
            self._show_error(clean(first_line(str(event.worker.error))))
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
            self._refresh.schedule(self.refresh_interval)

    def on_screen_resume(self) -> None:
        """Shown (again): catch up at once when a tick was skipped while hidden."""
        self._refresh.resume()

    def on_screen_suspend(self) -> None:
        """Hidden: the pending tick will be skipped (and caught up on resume)."""
        self._refresh.suspend()

    # --- showing -------------------------------------------------------------------------

    def on_dashboard_screen_loaded(self, message: Loaded) -> None:
        """Show a refresh's figures and tell the header how the database and queue are."""
        metrics = message.metrics
        self.metrics = metrics
        self.error = None
        for key, value in depth_figures(metrics).items():
            self.query_one(f"#depth-{key}", Static).update(value)
        hour = metrics.last_hour
        self.query_one("#finished-label", Static).update(
            f"finished/min · last hour · {hour.total_finished:,}"
        )
        self.query_one("#failed-label", Static).update(
            f"failed/min · last hour · {hour.total_failed:,}"
        )
        self.query_one("#finished-spark", Sparkline).data = list(hour.finished)
        self.query_one("#failed-spark", Sparkline).data = list(hour.failed)
        self.query_one("#dashboard-day", Static).update(day_line(metrics))
        self._fill_lists()
        self._show_status()
        if message.paused is not None:
            self._show_paused(message.paused)
        self._report_health(metrics.health)

    def on_dashboard_screen_failed(self, message: Failed) -> None:
        """Keep the last figures; say what failed."""
        self._show_error(message.error)
        self._report_health(message.health)

    def _show_error(self, error: str) -> None:
        self.error = error
        self._show_status()

    def _report_health(self, report: HealthReport) -> None:
        console_host(self).show_health(report)

    def _show_status(self) -> None:
        status = self.query_one("#dashboard-status", Static)
        parts: list[str | Text | tuple[str, str]] = []
        if self.metrics is not None:
            taken = self.metrics.taken_at.strftime("%H:%M:%S")
            parts.append(f"updated {taken} UTC · every {self.refresh_interval:g}s")
            if self.metrics.queue_error is not None:
                parts += [" · ", safe_text(f"queue: {self.metrics.queue_error}", style="red")]
        if self.error is not None:
            failed = safe_text(f"refresh failed: {self.error}", style="bold red")
            parts += [" · " if parts else "", failed]
        status.update(Text.assemble(*parts))

    def _show_paused(self, paused: list[HeldSummary]) -> None:
        banner = self.query_one("#dashboard-paused", Static)
        banner.update(paused_banner(paused) if paused else "")
        banner.display = bool(paused)

    def _fill_lists(self) -> None:
        metrics, widths = self.metrics, self._widths
        top = self.query_one("#dashboard-top-failing", RecordTable)
        refill(top, widths.top_columns(), top_failing_rows(metrics, widths) if metrics else [])
        latest = self.query_one("#dashboard-latest-failures", RecordTable)
        rows = latest_failure_rows(metrics, widths) if metrics else []
        refill(latest, widths.latest_columns(), rows)
        if metrics is not None:
            self._latest_workflows = {row.id: row.workflow for row in metrics.latest_failures}

    # --- keys ----------------------------------------------------------------------------

    def action_show_alerts(self) -> None:
        """``a``: the alert history."""
        self.app.push_screen(AlertsScreen(self.backend))

    async def on_record_table_row_selected(self, event: RecordTable.RowSelected) -> None:
        """``enter``: the failed executions of the workflow under the cursor."""
        event.stop()
        key = event.row_key
        if event.table.id == "dashboard-top-failing":
            shown = ExecutionFilter(status="FAILED", workflow=key, workflow_exact=True, since="24h")
        else:
            workflow = self._latest_workflows.get(key)
            if workflow is None:
                return
            shown = ExecutionFilter(status="FAILED", workflow=workflow, workflow_exact=True)
        await console_host(self).show_executions(shown)
