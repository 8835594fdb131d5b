"""The failures section (f): clusters, the window (t), the filter (/), a cluster's
executions (enter) and retrying a whole cluster (r) behind the blast radius."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import col, select

from engine.db import Database, session_scope
from engine.models import AuditLog, WorkflowExecution
from engine.services.blast_radius import BlastRadius
from tests.console.conftest import HOSTILE_NAME, Settle, screen_text
from tests.console.failures_seed import (
    CLUSTER_404,
    CLUSTER_503,
    OLD_503,
    add_failure,
    error_503,
    use_failures,
)
from tests.console.helpers import notes, press_settled, set_role
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.blast_radius import BlastRadiusScreen
from wfconsole.console.screens.execution_detail import ExecutionDetailScreen
from wfconsole.console.screens.failure_cluster import FailureClusterScreen
from wfconsole.console.screens.failures import FailuresScreen

MakeApp = Callable[..., WfConsoleApp]
SIGNATURE_503 = "HTTP 503 from https://tasks.example.com/api/tasks?… after # attempt(s)"


@pytest.fixture(autouse=True)
def failures(console_db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    use_failures(console_db, monkeypatch)
    return console_db


def column(screen: FailuresScreen | FailureClusterScreen, key: str) -> list[str]:
    """The plain text of one column, top to bottom."""
    return [cell.plain for cell in screen.table.get_column(key)]


def failures_screen(app: WfConsoleApp) -> FailuresScreen:
    screen = next(s for s in app.screen_stack if isinstance(s, FailuresScreen))
    return screen


def statuses(db: Database, ids: list[str]) -> list[tuple[str, int]]:
    with session_scope(db) as session:
        rows = {
            e.id: (e.status, e.retry_count)
            for e in session.exec(
                select(WorkflowExecution).where(col(WorkflowExecution.id).in_(ids))
            )
        }
    return [rows[i] for i in ids]


def retry_audit(db: Database) -> list[tuple[str, str | None]]:
    with session_scope(db) as session:
        rows = session.exec(
            select(AuditLog).where(AuditLog.action == "execution.retry").order_by(
                col(AuditLog.target_id))
        ).all()  # fmt: skip
        return [(a.actor, a.target_id) for a in rows]


async def test_f_shows_the_clusters_biggest_first(make_app: MakeApp, settle: Settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "f")
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        assert column(screen, "workflow") == [
            "invoice-alert", "nightly-report", HOSTILE_NAME[:19] + "…", "invoice-alert",
            "nightly-report",
        ]  # fmt: skip
        assert column(screen, "action") == ["create_task"] * 2 + ["slack"] * 3
        assert column(screen, "count") == ["3", "2", "1", "1", "1"]
        assert column(screen, "kind") == ["transient", "permanent", "permanent", "transient",
                                          "transient"]  # fmt: skip
        assert screen.clusters[0].signature == SIGNATURE_503
        assert column(screen, "signature")[0] == SIGNATURE_503[:29] + "…"
        assert column(screen, "first")[0] == "05-01 11:35:03"
        assert column(screen, "last")[0] == "05-01 11:55:03"
        text = screen_text(app)
        assert "5 clusters · 8 failed executions" in text
        assert "sample  " + error_503(103) in text  # the newest failure of the cluster


async def test_hostile_error_messages_are_shown_literally(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app(section="failures")
    async with app.run_test(size=(160, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        assert column(screen, "signature")[2] == (
            "boom \N{SYMBOL FOR ESCAPE}[#J [red]markup[/red] [@click=app.quit]click me[/]"
        )
        await pilot.press("down", "down")
        await pilot.click("#failures-sample")  # a click on shown markup must do nothing
        await settle(pilot)
        assert app.is_running
        assert "[@click=app.quit]click me[/]" in screen_text(app)
        assert "\x1b" not in screen_text(app)


async def test_t_switches_the_time_window(make_app: MakeApp, settle: Settle) -> None:
    app = make_app(section="failures")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        assert screen.window == "24h"
        await press_settled(pilot, settle, "t")
        assert screen.window == "7d"
        assert column(screen, "count")[0] == "4"  # the two-day-old failure joins
        await press_settled(pilot, settle, "t")
        assert screen.window == "1h"
        assert column(screen, "count") == ["3", "1", "1", "1"]  # the 404s are older
        assert "last 1h (since 05-01 11:30:00 UTC)" in screen_text(app)


async def test_slash_filters_the_clusters_and_escape_clears(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app(section="failures")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        await pilot.press("slash", *"404")
        assert column(screen, "workflow") == ["nightly-report"]
        await pilot.press("enter")
        assert app.focused is screen.table
        await pilot.press("slash", "ctrl+u", *"TRANSIENT smtp")
        assert column(screen, "workflow") == ["invoice-alert", "nightly-report"]
        await pilot.press("escape")
        assert len(column(screen, "workflow")) == 5


async def test_enter_lists_exactly_the_clusters_executions(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app(section="failures")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "enter")
        screen = app.screen
        assert isinstance(screen, FailureClusterScreen)
        assert [row.id for row in screen.rows] == CLUSTER_503  # not OLD_503: outside the window
        assert OLD_503 not in screen.ids  # type: ignore[operator]
        assert column(screen, "status") == ["FAILED"] * 3
        assert "3 executions since 04-30 12:30:00 UTC" in screen_text(app)
        await press_settled(pilot, settle, "down", "enter")
        assert isinstance(app.screen, ExecutionDetailScreen)
        assert app.screen.execution_id == CLUSTER_503[1]
        await pilot.press("escape")
        await pilot.press("escape")
        assert isinstance(app.screen, FailuresScreen)


async def test_r_retries_the_whole_cluster_after_the_preview(
    make_app: MakeApp, settle: Settle, failures: Database
) -> None:
    app = make_app(section="failures")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "down", "r")
        assert isinstance(app.screen, BlastRadiusScreen)
        assert isinstance(app.screen.radius, BlastRadius)
        assert app.screen.radius.ids == tuple(CLUSTER_404)
        assert "Retry 2 executions?" in screen_text(app)
        await press_settled(pilot, settle, "y")
        screen = failures_screen(app)
        assert app.screen is screen
        assert "nightly-report" not in column(screen, "workflow")[:2]
        assert column(screen, "count") == ["3", "1", "1", "1"]
    assert statuses(failures, CLUSTER_404) == [("PENDING", 4), ("PENDING", 4)]
    assert statuses(failures, CLUSTER_503) == [("FAILED", 3)] * 3
    assert retry_audit(failures) == [("tester", i) for i in CLUSTER_404]
    assert "2 executions back to PENDING" in notes(app)


async def test_escape_in_the_preview_retries_nothing(
    make_app: MakeApp, settle: Settle, failures: Database
) -> None:
    app = make_app(section="failures")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "r")
        assert isinstance(app.screen, BlastRadiusScreen)
        await press_settled(pilot, settle, "escape")
        assert isinstance(app.screen, FailuresScreen)
    assert statuses(failures, CLUSTER_503) == [("FAILED", 3)] * 3
    assert retry_audit(failures) == []


async def test_r_in_a_cluster_retries_it_and_shows_them_pending(
    make_app: MakeApp, settle: Settle, failures: Database
) -> None:
    app = make_app(section="failures")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "enter")
        await press_settled(pilot, settle, "r")
        assert isinstance(app.screen, BlastRadiusScreen)
        assert "Retry 3 executions?" in screen_text(app)
        await press_settled(pilot, settle, "y")
        screen = app.screen
        assert isinstance(screen, FailureClusterScreen)
        assert column(screen, "status") == ["PENDING"] * 3
    assert statuses(failures, CLUSTER_503) == [("PENDING", 4)] * 3
    assert retry_audit(failures) == [("tester", i) for i in CLUSTER_503]


async def test_a_viewer_cannot_retry_a_cluster(
    make_app: MakeApp, settle: Settle, failures: Database
) -> None:
    set_role(failures, "tester", "VIEWER")
    app = make_app(section="failures")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert app.role == "VIEWER"
        assert app.screen.check_action("retry", ()) is None  # shown disabled
        await press_settled(pilot, settle, "r")
        assert isinstance(app.screen, FailuresScreen)
        await press_settled(pilot, settle, "enter")
        await press_settled(pilot, settle, "r")
        assert isinstance(app.screen, FailureClusterScreen)
    assert notes(app) == ["cannot retry: needs OPERATOR (you are VIEWER)"] * 2
    assert statuses(failures, CLUSTER_503) == [("FAILED", 3)] * 3
    assert retry_audit(failures) == []


async def test_the_clusters_refresh_while_shown(
    make_app: MakeApp, settle: Settle, failures: Database
) -> None:
    app = make_app(section="failures", refresh_interval=0.05)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        add_failure(failures, "invoice-alert", 107, 1, error_503(107))
        for _ in range(200):  # 10 s at most: a loaded machine delays the refresh worker
            await pilot.pause(0.05)
            if column(screen, "count")[0] == "4":
                break
        assert column(screen, "count")[0] == "4"


async def test_the_refresh_pauses_while_the_screen_is_hidden(
    make_app: MakeApp, settle: Settle, failures: Database
) -> None:
    app = make_app(section="failures", refresh_interval=0.05)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        await press_settled(pilot, settle, "w")
        add_failure(failures, "invoice-alert", 107, 1, error_503(107))
        await pilot.pause(0.3)
        assert column(screen, "count")[0] == "3"
        await press_settled(pilot, settle, "f")
        for _ in range(200):  # 10 s at most: a loaded machine delays the refresh worker
            if column(screen, "count")[0] == "4":
                break
            await pilot.pause(0.05)
        assert column(screen, "count")[0] == "4"


async def test_typing_r_and_t_into_the_filter_only_filters(
    make_app: MakeApp, settle: Settle, failures: Database
) -> None:
    app = make_app(section="failures")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        await press_settled(pilot, settle, "slash", *"report")
        assert screen.window == "24h"
        assert column(screen, "workflow") == ["nightly-report", "nightly-report"]
        assert app.screen is screen
    assert retry_audit(failures) == []
