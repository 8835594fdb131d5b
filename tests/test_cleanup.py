"""Retention cleanup on SQLite and PostgreSQL: exactly the old rows go, nothing unfinished."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from engine.db import Database, session_scope
from engine.maintenance.cleanup import plan_cleanup, run_cleanup
from engine.models import (
    AuditLog,
    Workflow,
    WorkflowExecution,
    WorkflowExecutionLog,
    WorkflowExecutionStep,
    table_of,
    utcnow,
)
from engine.services.workflows import save_document
from engine.workers.housekeeping import cleanup_due
from tests.cli.runner import runner, write_config
from tests.conftest import settings_for_url

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
STATUSES = ("SUCCESS", "FAILED", "CANCELLED", "SKIPPED", "PENDING", "RUNNING")


def _seed(db: Database, now: datetime = NOW) -> dict[str, list[str]]:
    """Per status: one execution 40 days old and one 5 days old, each with 2 steps and
    3 log lines (one 100 days old, two as old as the execution)."""
    save_document(
        db,
        {"name": "wf", "triggers": [{"type": "manual"}],
         "actions": [{"type": "create_task", "title": "t"}]},
        actor="tester",
    )  # fmt: skip
    ids: dict[str, list[str]] = {"old": [], "recent": []}
    with session_scope(db) as session:
        workflow = session.exec(select(Workflow)).one()
        for status in STATUSES:
            for label, age in (("old", 40), ("recent", 5)):
                created = now - timedelta(days=age)
                execution = WorkflowExecution(
                    workflow_id=workflow.id, status=status, trigger_type="manual",
                    created_at=created, available_at=created,
                )  # fmt: skip
                session.add(execution)
                session.flush()
                ids[label].append(execution.id)
                for index in range(2):
                    session.add(
                        WorkflowExecutionStep(
                            execution_id=execution.id,
                            step_index=index,
                            action_type="create_task",
                            status="SUCCESS",
                        )
                    )
                for stamp in (now - timedelta(days=100), created, created):
                    session.add(
                        WorkflowExecutionLog(
                            execution_id=execution.id, message="m", timestamp=stamp
                        )
                    )
    return ids


def _count(db: Database, model: type) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table_of(model))).scalar_one()
        )


def test_dry_run_counts_per_table_and_changes_nothing(any_db: Database) -> None:
    _seed(any_db)
    plan = plan_cleanup(any_db, logs_days=90, executions_days=30, now=NOW)
    # 12 executions each have one 100-day-old log line.
    assert plan.old_logs == 12
    # 4 finished statuses x 1 old execution; PENDING and RUNNING are never eligible.
    assert plan.executions == 4
    assert plan.steps_with_them == 8
    assert plan.logs_with_them == 8  # their two remaining lines each
    assert plan.rows == 12 + 4 + 8 + 8
    assert _count(any_db, WorkflowExecution) == 12
    assert _count(any_db, WorkflowExecutionLog) == 36


def test_cleanup_deletes_exactly_what_the_plan_counted_in_batches(any_db: Database) -> None:
    ids = _seed(any_db)
    seen: list[tuple[str, int, int]] = []
    result = run_cleanup(
        any_db, logs_days=90, executions_days=30, actor="ops", batch_size=5, now=NOW,
        progress=lambda what, done, total: seen.append((what, done, total)),
    )  # fmt: skip
    assert result.logs_deleted == 12
    assert result.executions_deleted == 4
    assert seen == [("logs", 5, 12), ("logs", 10, 12), ("logs", 12, 12), ("executions", 4, 4)]
    columns = table_of(WorkflowExecution).c
    with any_db.engine.connect() as conn:
        left = {row.id: row.status for row in conn.execute(sa.select(columns.id, columns.status))}
    old_unfinished = {i for i in ids["old"] if left.get(i) in ("PENDING", "RUNNING")}
    assert set(left) == set(ids["recent"]) | old_unfinished
    assert len(old_unfinished) == 2
    assert _count(any_db, WorkflowExecutionStep) == 2 * 8
    assert _count(any_db, WorkflowExecutionLog) == 8 * 2  # the 100-day lines went first
    with session_scope(any_db) as session:
        audit = session.exec(select(AuditLog).where(AuditLog.action == "maintenance.cleanup")).one()
        assert audit.actor == "ops"
        assert audit.details is not None and audit.details["executions_deleted"] == 4


def test_a_second_cleanup_finds_nothing(any_db: Database) -> None:
    _seed(any_db)
    run_cleanup(any_db, logs_days=90, executions_days=30, actor="ops", now=NOW)
    again = run_cleanup(any_db, logs_days=90, executions_days=30, actor="ops", now=NOW)
    assert (again.logs_deleted, again.executions_deleted, again.batches) == (0, 0, 0)


def test_cli_dry_run_prints_counts_then_the_run_deletes(
    sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(sqlite_db, now=utcnow())
    cli = runner(capsys, write_config(tmp_path / "c.toml", sqlite_db.url))
    dry = cli("cleanup", "--dry-run")
    assert dry.code == 0, dry.err
    assert "would delete" in dry.out
    assert re.search(r"workflow_execution\s+4\n", dry.out)
    assert re.search(r"workflow_execution_log\s+20\s+\(12 old lines, 8 of those", dry.out)
    assert _count(sqlite_db, WorkflowExecution) == 12
    done = cli("cleanup", "--batch-size", "5", "--user", "tester")
    assert done.code == 0, done.err
    assert "deleted 12 log lines and 4 executions" in done.out
    assert "logs: 5 / 12" in done.err
    assert _count(sqlite_db, WorkflowExecution) == 8


def test_cli_refuses_a_bad_number_of_days(
    sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = runner(capsys, write_config(tmp_path / "c.toml", sqlite_db.url))
    outcome = cli("cleanup", "--logs-days", "0")
    assert outcome.code != 0
    assert "--logs-days" in outcome.err and "at least 1 day" in outcome.err
    assert "Traceback" not in outcome.err


def _cleanup_audits(db: Database) -> list[AuditLog]:
    with session_scope(db) as session:
        query = select(AuditLog).where(AuditLog.action == "maintenance.cleanup")
        return list(session.exec(query.order_by(col(AuditLog.id))).all())


def test_a_cleanup_that_gives_up_midway_is_audited_with_what_it_deleted(
    postgres_db: Database,
) -> None:
    _seed(postgres_db)
    with postgres_db.engine.connect() as holder:  # the log lines can go, the executions not
        holder.execute(sa.text("LOCK TABLE workflow_execution IN SHARE MODE"))
        with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
            run_cleanup(postgres_db, logs_days=90, executions_days=30, actor="ops", now=NOW)
        holder.rollback()

    [audit] = _cleanup_audits(postgres_db)
    assert audit.actor == "ops"
    assert audit.details == {
        "logs_days": 90, "executions_days": 30, "logs_deleted": 12, "executions_deleted": 0,
        "completed": False, "error": "canceling statement due to lock timeout",
    }  # fmt: skip
    assert _count(postgres_db, WorkflowExecutionLog) == 36 - 12
    assert _count(postgres_db, WorkflowExecution) == 12


def test_a_completed_cleanup_says_so_in_its_audit_row(sqlite_db: Database) -> None:
    _seed(sqlite_db)
    run_cleanup(sqlite_db, logs_days=90, executions_days=30, actor="ops", now=NOW)
    [audit] = _cleanup_audits(sqlite_db)
    assert audit.details is not None and audit.details["completed"] is True
    assert "error" not in audit.details


def test_the_daily_cleanup_tries_again_an_hour_after_a_failed_one(sqlite_db: Database) -> None:
    settings = settings_for_url(sqlite_db.url)
    settings.retention.cleanup_time = "03:00"
    failed_at = datetime(2025, 3, 10, 3, 1, tzinfo=UTC)
    with session_scope(sqlite_db) as session:
        session.add(
            AuditLog(actor="w", action="maintenance.cleanup", target_type="database",
                     timestamp=failed_at, details={"completed": False, "error": "lock timeout"})
        )  # fmt: skip
    assert not cleanup_due(sqlite_db, settings, failed_at + timedelta(minutes=59))
    assert cleanup_due(sqlite_db, settings, failed_at + timedelta(minutes=61))
