"""The alert history: ``a`` on the dashboard opens it, newest first, open ones marked,
data shown literally; ``o`` keeps the open ones; ``escape`` goes back."""

from __future__ import annotations

from collections.abc import Callable

from engine.db import Database
from tests.console.alerts_seed import seed_alerts
from tests.console.conftest import HOSTILE_NAME, Settle, screen_text
from tests.console.helpers import press_settled
from tests.console.test_dashboard import DashboardBackend
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend
from wfconsole.console.screens.alerts import AlertsScreen, column_widths
from wfconsole.console.screens.dashboard import DashboardScreen

MakeApp = Callable[..., WfConsoleApp]


async def test_a_on_the_dashboard_lists_the_alerts_newest_first(
    make_app: MakeApp, backend: EngineBackend, console_db: Database, settle: Settle
) -> None:
    seed_alerts(console_db)
    app = make_app(section="dashboard", backend=DashboardBackend(backend))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "a")
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        assert [(row.rule, row.is_open) for row in screen.alerts] == [
            ("no_worker", True), ("queue_depth", True), ("failure_rate", False),
        ]  # fmt: skip
        text = screen_text(app)
        assert "3 incidents · 2 open" in text
        assert text.count("OPEN") == 2
        assert "resolved" in text


async def test_data_in_alerts_is_shown_literally(
    make_app: MakeApp, backend: EngineBackend, console_db: Database, settle: Settle
) -> None:
    seed_alerts(console_db)
    app = make_app(section="dashboard", backend=DashboardBackend(backend))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "a")
        await press_settled(pilot, settle, "end")
        text = screen_text(app)
        assert f"#1 failure_rate · {HOSTILE_NAME}" in text
        assert "[red]markup[/red] [@click=app.quit]click me[/]" in text
        assert "␛[2J" in text
        assert "slack Slack API error: ratelimited" in text
        assert app.is_running  # the [@click=app.quit] in the data did not quit


async def test_o_keeps_only_the_open_incidents_and_escape_goes_back(
    make_app: MakeApp, backend: EngineBackend, console_db: Database, settle: Settle
) -> None:
    seed_alerts(console_db)
    app = make_app(section="dashboard", backend=DashboardBackend(backend))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "a")
        await press_settled(pilot, settle, "o")
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        assert [row.rule for row in screen.alerts] == ["no_worker", "queue_depth"]
        await press_settled(pilot, settle, "escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_an_empty_history_says_so(
    make_app: MakeApp, backend: EngineBackend, settle: Settle
) -> None:
    app = make_app(section="dashboard", backend=DashboardBackend(backend))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "a")
        text = screen_text(app)
        assert "0 incidents · 0 open" in text
        assert "no alerts" in text


def test_columns_fit_the_terminal_width() -> None:
    for width in (80, 120, 200):
        widths = column_widths(width)
        assert sum(widths) + 2 * len(widths) + 1 <= width
