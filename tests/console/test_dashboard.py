"""The dashboard section: figures from the seeded data, the refresh loop, keys, header health.

The seeded database (tests/console/conftest.py) holds, per workflow, one execution of each
status around BASE_TIME; the dashboard's clock is fixed at BASE_TIME + 5 minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select
from textual.widgets import Sparkline, Static

from engine.db import Database, session_scope
from engine.models import Workflow, WorkflowExecution
from engine.services.dashboard import DashboardMetrics
from engine.services.health import ComponentHealth, HealthReport
from tests.console.conftest import BASE_TIME, HOSTILE_NAME, Settle, screen_text
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend
from wfconsole.console.screens.dashboard import DashboardScreen
from wfconsole.console.screens.executions import ExecutionsScreen
from wfconsole.console.widgets.record_table import RecordTable

NOW = BASE_TIME + timedelta(minutes=5)
MakeApp = Callable[..., WfConsoleApp]


class DashboardBackend:
    """The seeded backend with the dashboard's clock fixed; counts and can break refreshes."""

    def __init__(self, inner: EngineBackend, now: datetime = NOW) -> None:
        self.inner = inner
        self.now = now
        self.dashboard_calls = 0
        self.health_calls = 0
        self.broken: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def dashboard_metrics(
        self, *, now: datetime | None = None, previous: DashboardMetrics | None = None
    ) -> DashboardMetrics:
        self.dashboard_calls += 1
        if self.broken is not None:
            raise ConnectionError(self.broken)
        return self.inner.dashboard_metrics(now=now or self.now, previous=previous)

    def health(self) -> HealthReport:
        self.health_calls += 1
        if self.broken is not None:
            return HealthReport(ComponentHealth(False, self.broken), ComponentHealth(True))
        return self.inner.health()


def add_running(db: Database, workflow: str) -> None:
    with session_scope(db) as session:
        workflow_id = session.exec(select(Workflow.id).where(Workflow.name == workflow)).one()
        session.add(WorkflowExecution(
            workflow_id=workflow_id, status="RUNNING", trigger_type="manual",
            created_at=NOW - timedelta(seconds=30), started_at=NOW - timedelta(seconds=30),
            available_at=NOW - timedelta(seconds=30),
        ))  # fmt: skip


def digits(app: WfConsoleApp, key: str) -> str:
    return str(app.screen.query_one(f"#depth-{key}", Static).render())


def static_text(app: WfConsoleApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_the_dashboard_shows_the_figures_of_the_seeded_data(
    make_app: MakeApp, backend: EngineBackend, settle: Settle
) -> None:
    app = make_app(section="dashboard", backend=DashboardBackend(backend))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert [digits(app, k) for k in ("queued", "scheduled", "running", "pending")] == [
            "0", "0", "3", "3"]  # fmt: skip
        assert "finished/min · last hour · 12" in static_text(app, "#finished-label")
        assert "failed/min · last hour · 3" in static_text(app, "#failed-label")
        assert sum(app.screen.query_one("#finished-spark", Sparkline).data or []) == 12
        day = static_text(app, "#dashboard-day")
        assert "success 50% · avg 2.5s · finished 12 · failed 3" in day
        assert "workers 0 alive" in day
        top = app.screen.query_one("#dashboard-top-failing", RecordTable)
        assert [top.get_row_at(i)[1].plain for i in range(top.row_count)] == ["1", "1", "1"]
        assert str(top.get_row_at(0)[0]) == HOSTILE_NAME  # shown literally, not run
        latest = app.screen.query_one("#dashboard-latest-failures", RecordTable)
        assert latest.row_count == 3
        text = screen_text(app)
        assert "updated 12:05:00 UTC" in text
        assert "boom ␛[2J [red]markup" in text  # the escape shown, not sent
        assert app.is_running


async def test_a_refresh_picks_up_a_new_execution(
    make_app: MakeApp, backend: EngineBackend, console_db: Database, settle: Settle
) -> None:
    counting = DashboardBackend(backend)
    app = make_app(section="dashboard", backend=counting, refresh_interval=0.1)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert digits(app, "running") == "3"
        add_running(console_db, "invoice-alert")
        for _ in range(50):
            await pilot.pause(0.1)
            if digits(app, "running") == "4":
                break
        assert digits(app, "running") == "4"
        assert counting.dashboard_calls >= 2


async def test_no_dashboard_queries_run_while_another_section_is_shown(
    make_app: MakeApp, backend: EngineBackend, settle: Settle
) -> None:
    counting = DashboardBackend(backend)
    app = make_app(section="dashboard", backend=counting, refresh_interval=0.1)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionsScreen)
        hidden_at = counting.dashboard_calls
        await pilot.pause(0.6)  # six refresh intervals
        assert counting.dashboard_calls == hidden_at
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert counting.dashboard_calls > hidden_at  # caught up on return


async def test_d_opens_the_dashboard_from_another_section(
    make_app: MakeApp, backend: EngineBackend, settle: Settle
) -> None:
    app = make_app(section="workflows", backend=DashboardBackend(backend))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert digits(app, "pending") == "3"


async def test_enter_on_a_top_failing_workflow_lists_its_failures_of_the_day(
    make_app: MakeApp, backend: EngineBackend, settle: Settle
) -> None:
    app = make_app(section="dashboard", backend=DashboardBackend(backend))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")  # the second workflow: invoice-alert
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        assert screen.filter.to_query() == "status:FAILED workflow:=invoice-alert since:24h"


async def test_enter_on_a_latest_failure_lists_that_workflows_failures(
    make_app: MakeApp, backend: EngineBackend, settle: Settle
) -> None:
    app = make_app(section="dashboard", backend=DashboardBackend(backend))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("tab", "down", "down", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        assert screen.filter.status == "FAILED"
        assert screen.filter.workflow == "nightly-report" and screen.filter.workflow_exact


async def test_a_failed_refresh_keeps_the_figures_and_says_why(
    make_app: MakeApp, backend: EngineBackend, settle: Settle
) -> None:
    breaking = DashboardBackend(backend)
    app = make_app(section="dashboard", backend=breaking)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert "db ok · sqlite queue ok" in app.sub_title
        breaking.broken = "connection to server lost [@click=app.quit]x[/]"
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        screen.reload()
        await settle(pilot)
        status = static_text(app, "#dashboard-status")
        assert "refresh failed: connection to server lost [@click=app.quit]x[/]" in status
        assert digits(app, "running") == "3"
        assert "db DOWN" in app.sub_title
        assert app.is_running


async def test_the_header_health_is_checked_on_other_sections_too(
    make_app: MakeApp, backend: EngineBackend, settle: Settle
) -> None:
    counting = DashboardBackend(backend)
    app = make_app(section="executions", backend=counting, refresh_interval=0.1)
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(50):
            await pilot.pause(0.1)
            if "db ok" in app.sub_title:
                break
        assert app.sub_title.startswith("db ok · sqlite queue ok · tester (")
        assert counting.dashboard_calls == 0 and counting.health_calls >= 1
