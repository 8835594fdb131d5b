"""The maintenance screen's health and queue panels, flush stale locks (``l``) and alerts (``a``).

The seeded database holds PENDING and RUNNING executions whose worker never beat; one
PENDING run is claimed here by a worker that stopped beating, with its lease over.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from sqlmodel import select

from engine.db import Database, session_scope
from engine.execution import claims as store
from engine.models import AuditLog, WorkflowExecution, utcnow
from engine.queue.heartbeat import write_beat
from tests.console.conftest import Settle, screen_text
from tests.console.helpers import log_text, notes, press_settled, set_role
from wfconsole.console.app import WfConsoleApp, screen_commands
from wfconsole.console.screens.alerts import AlertsScreen
from wfconsole.console.screens.confirm import ConfirmScreen
from wfconsole.console.screens.maintenance import MaintenanceScreen

MakeApp = Callable[..., WfConsoleApp]
DEAD = "deadhost:101"


def lose_a_run(db: Database) -> str:
    """A seeded PENDING run claimed by a worker that stopped beating, its lease over."""
    with session_scope(db) as session:
        pending = session.exec(
            select(WorkflowExecution).where(WorkflowExecution.status == "PENDING")
        ).first()
        assert pending is not None
        execution_id = pending.id
    now = utcnow()
    write_beat(db, f"{DEAD}:0a0b0c0d", kind="consumer", started_at=now - timedelta(hours=1),
               now=now - timedelta(minutes=10))  # fmt: skip
    with db.engine.begin() as conn:
        store.claim(conn, execution_id, now=now, lease_until=now - timedelta(seconds=5),
                    worker_id=DEAD, max_running=100)  # fmt: skip
    return execution_id


def status_of(db: Database, execution_id: str) -> tuple[str, int]:
    with session_scope(db) as session:
        row = session.get(WorkflowExecution, execution_id)
        assert row is not None
        return row.status, row.retry_count


def palette(app: WfConsoleApp) -> dict[str, str]:
    """The current screen's palette entries: name → help text."""
    return {name: help_text for name, help_text, _ in screen_commands(app, app.screen)}


def flush_audits(db: Database) -> int:
    with session_scope(db) as session:
        query = select(AuditLog).where(AuditLog.action == "maintenance.flush_locks")
        return len(session.exec(query).all())


async def test_the_panels_show_health_and_the_queue(
    make_app: MakeApp, console_db: Database, settle: Settle
) -> None:
    lose_a_run(console_db)
    app = make_app(section="maintenance")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        shown = screen_text(app)
    assert re.search(r"Health +healthy", shown)
    assert re.search(r"database +up · sqlite", shown)
    assert re.search(r"workflows +3 · 2 enabled", shown)
    assert re.search(r"running +4 · 1 expired", shown)
    assert re.search(r"workers +0 alive · 1 dead", shown)
    assert re.search(r"stale +1 lease · 0 lock", shown)


async def test_flush_names_the_stale_lease_and_y_hands_it_back(
    make_app: MakeApp, console_db: Database, settle: Settle
) -> None:
    lost = lose_a_run(console_db)
    app = make_app(section="maintenance")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "l")
        assert isinstance(app.screen, ConfirmScreen)
        question = screen_text(app)
        assert "Hand back 1 execution(s) past their lease" in question
        assert lost[-12:] in question and DEAD in question
        await press_settled(pilot, settle, "y")
        assert isinstance(app.screen, MaintenanceScreen)
        assert "flush: 1 handed back for retry, 0 failed" in log_text(app)
        assert re.search(r"stale +0 lease · 0 lock", screen_text(app))
    assert status_of(console_db, lost) == ("PENDING", 1)
    assert flush_audits(console_db) == 1


async def test_flush_answered_no_releases_nothing(
    make_app: MakeApp, console_db: Database, settle: Settle
) -> None:
    lost = lose_a_run(console_db)
    app = make_app(section="maintenance")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "l")
        await press_settled(pilot, settle, "n")
        assert "flush cancelled: nothing released" in log_text(app)
    assert status_of(console_db, lost) == ("RUNNING", 0)
    assert flush_audits(console_db) == 0


async def test_flush_with_nothing_stale_asks_nothing(
    make_app: MakeApp, console_db: Database, settle: Settle
) -> None:
    app = make_app(section="maintenance")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "l")
        assert isinstance(app.screen, MaintenanceScreen)
        assert "flush: nothing stale" in log_text(app)
    assert flush_audits(console_db) == 0


async def test_a_viewer_is_refused_flush_and_the_palette_says_why(
    make_app: MakeApp, console_db: Database, settle: Settle
) -> None:
    lost = lose_a_run(console_db)
    set_role(console_db, "tester", "VIEWER")
    app = make_app(section="maintenance")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "l")
        assert isinstance(app.screen, MaintenanceScreen)
        commands = palette(app)
    assert notes(app) == ["Flush locks: needs ADMIN (you are VIEWER)"]
    assert commands["Flush locks"] == "(l) unavailable: needs ADMIN (you are VIEWER)"
    assert commands["Alerts"] == "(a) on this screen"
    assert status_of(console_db, lost) == ("RUNNING", 0)


async def test_a_opens_the_alert_history_and_escape_comes_back(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app(section="maintenance")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "a")
        assert isinstance(app.screen, AlertsScreen)
        assert "wfconsole · alerts" in screen_text(app)
        await press_settled(pilot, settle, "escape")
        assert isinstance(app.screen, MaintenanceScreen)
