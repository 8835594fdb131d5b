"""The maintenance screen (``m``): cleanup, vacuum, backup and restore from the keyboard.

Runs against the seeded SQLite database: its executions date from 2024, so everything
finished is past the default retention (30 days; log lines 90 days).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlalchemy as sa
from sqlmodel import select

from engine.db import Database, session_scope
from engine.maintenance.backup import backups_dir
from engine.models import AuditLog, Workflow, WorkflowExecution
from tests.console.conftest import Settle, screen_text
from tests.console.helpers import log_text, notes, press_settled, set_role
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend
from wfconsole.console.screens.confirm import ConfirmScreen
from wfconsole.console.screens.maintenance import MaintenanceScreen


def counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {
            table: int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("workflow", "workflow_execution", "workflow_execution_step",
                          "workflow_execution_log")
        }  # fmt: skip


def audit_actions(db: Database) -> list[str]:
    with session_scope(db) as session:
        return [row.action for row in session.exec(select(AuditLog)).all()]


def finish_running(db: Database) -> None:
    """Let the seeded RUNNING executions end, so a restore is allowed."""
    with session_scope(db) as session:
        for row in session.exec(
            select(WorkflowExecution).where(WorkflowExecution.status == "RUNNING")
        ).all():
            row.status = "SUCCESS"


async def test_cleanup_shows_the_dry_run_counts_and_cancel_changes_nothing(
    make_app: Callable[..., WfConsoleApp], console_db: Database, settle: Settle
) -> None:
    before = counts(console_db)
    app = make_app(section="maintenance")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "c")
        assert isinstance(app.screen, ConfirmScreen)
        shown = screen_text(app)
        assert "Delete 16 rows?" in shown
        assert re.search(r"workflow_execution +12 ", shown)
        assert re.search(r"workflow_execution_step +2 ", shown)
        assert re.search(r"workflow_execution_log +2 ", shown)
        await press_settled(pilot, settle, "n")
        assert isinstance(app.screen, MaintenanceScreen)
        assert "cleanup cancelled: nothing deleted" in log_text(app)
    assert counts(console_db) == before
    assert "maintenance.cleanup" not in audit_actions(console_db)


async def test_cleanup_confirmed_deletes_exactly_the_counted_rows(
    make_app: Callable[..., WfConsoleApp], console_db: Database, settle: Settle
) -> None:
    before = counts(console_db)
    app = make_app(section="maintenance")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "c")
        await press_settled(pilot, settle, "y")
        text = log_text(app)
        assert "cleanup: deleted 2 log lines and 12 executions" in text
        assert "  executions: 12 / 12" in text
    after = counts(console_db)
    assert after["workflow_execution"] == before["workflow_execution"] - 12
    assert after["workflow_execution_step"] == 0
    assert after["workflow_execution_log"] == 0
    with session_scope(console_db) as session:
        left = {row.status for row in session.exec(select(WorkflowExecution)).all()}
    assert left == {"PENDING", "RUNNING"}
    assert audit_actions(console_db).count("maintenance.cleanup") == 1


async def test_vacuum_asks_then_reports_the_size_before_and_after(
    make_app: Callable[..., WfConsoleApp], console_db: Database, settle: Settle
) -> None:
    app = make_app(section="maintenance")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "v")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Vacuum the database?" in screen_text(app)
        await press_settled(pilot, settle, "y")
        text = log_text(app)
        assert "  VACUUM" in text and "  ANALYZE" in text
        assert "vacuum: " in text and " before, " in text and " after (" in text
    assert audit_actions(console_db).count("maintenance.vacuum") == 1


async def test_backup_writes_a_file_and_lists_it(
    make_app: Callable[..., WfConsoleApp],
    console_db: Database,
    backend: EngineBackend,
    settle: Settle,
) -> None:
    app = make_app(section="maintenance")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert "Backups · 0 in" in screen_text(app)
        await press_settled(pilot, settle, "b")
        files = list(backups_dir(backend.settings).glob("*.backup"))
        assert len(files) == 1
        assert f"backup: {files[0].name}" in log_text(app)
        shown = screen_text(app)
        assert "Backups · 1 in" in shown and files[0].name in shown
    assert audit_actions(console_db).count("maintenance.backup") == 1


async def test_restore_is_refused_while_executions_are_running(
    make_app: Callable[..., WfConsoleApp], console_db: Database, settle: Settle
) -> None:
    app = make_app(section="maintenance")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "b")
        await press_settled(pilot, settle, "r")
        assert "This replaces EVERYTHING" in screen_text(app)
        await press_settled(pilot, settle, "y")
        assert "restore failed: 3 execution(s) are RUNNING" in log_text(app)
    assert "maintenance.restore" not in audit_actions(console_db)


async def test_restore_round_trip_brings_back_the_backed_up_rows(
    make_app: Callable[..., WfConsoleApp], console_db: Database, settle: Settle
) -> None:
    finish_running(console_db)
    before = counts(console_db)
    app = make_app(section="maintenance")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "b")
        with session_scope(console_db) as session:  # a change made after the backup
            session.delete(
                session.exec(select(Workflow).where(Workflow.name == "invoice-alert")).one()
            )
        assert counts(console_db)["workflow"] == before["workflow"] - 1
        await press_settled(pilot, settle, "r")
        await pilot.press("n")  # cancel first: nothing happens
        await settle(pilot)
        assert counts(console_db)["workflow"] == before["workflow"] - 1
        await press_settled(pilot, settle, "r")
        await press_settled(pilot, settle, "y")
        assert "restored wfconsole-" in log_text(app)
        assert app.role == "SUPER_ADMIN"
    assert counts(console_db) == before
    assert audit_actions(console_db)[-1] == "maintenance.restore"


async def test_a_viewer_is_told_why_each_key_is_refused(
    make_app: Callable[..., WfConsoleApp], console_db: Database, settle: Settle
) -> None:
    set_role(console_db, "tester", "VIEWER")
    before = counts(console_db)
    app = make_app(section="maintenance")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        for key in ("c", "v", "b", "r"):
            await press_settled(pilot, settle, key)
            assert isinstance(app.screen, MaintenanceScreen)
    assert notes(app) == [
        f"{name}: needs ADMIN (you are VIEWER)"
        for name in ("Cleanup", "Vacuum", "Backup", "Restore")
    ]
    assert counts(console_db) == before
    assert not list(backups_dir(app.backend.settings).glob("*.backup"))  # type: ignore[attr-defined]


async def test_m_opens_the_maintenance_section(
    make_app: Callable[..., WfConsoleApp], settle: Settle
) -> None:
    app = make_app(section="executions")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "m")
        assert isinstance(app.screen, MaintenanceScreen)
        shown = screen_text(app)
        assert "Retention" in shown and "executions  30 days" in shown
