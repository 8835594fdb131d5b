"""Retention cleanup: old log lines and old finished executions, in short batches.

Each batch is its own transaction that deletes at most ``batch_size`` rows picked through
an index (log lines by ``timestamp``; executions by ``(status, created_at)``), so no lock
is held for long and workers keep writing while it runs. Deleting an execution takes its
steps and log lines with it (ON DELETE CASCADE). PENDING and RUNNING executions are never
touched, whatever their age. The workflows' counters are lifetime totals and stay as
they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from engine.db import Database, session_scope
from engine.models import (
    ExecutionStatus,
    WorkflowExecution,
    WorkflowExecutionLog,
    WorkflowExecutionStep,
    table_of,
    utcnow,
)
from engine.services.audit import record_audit

FINISHED = (
    ExecutionStatus.SUCCESS.value,
    ExecutionStatus.FAILED.value,
    ExecutionStatus.CANCELLED.value,
    ExecutionStatus.SKIPPED.value,
)
DEFAULT_BATCH = 5000

E = table_of(WorkflowExecution).c
L = table_of(WorkflowExecutionLog).c
S = table_of(WorkflowExecutionStep).c

Progress = Callable[[str, int, int], None]
"""``progress(what, done, total)`` after every batch; ``what`` is "logs" or "executions"."""


@dataclass(frozen=True)
class CleanupPlan:
    """What a cleanup removes: cut-off times and the rows per table that fall under them."""

    logs_before: datetime
    executions_before: datetime
    old_logs: int
    """Log lines older than the log cut-off (of executions that are kept or not)."""
    executions: int
    """Finished executions older than the execution cut-off."""
    steps_with_them: int
    logs_with_them: int
    """Log lines of those executions that are not already counted in ``old_logs``."""

    @property
    def rows(self) -> int:
        return self.old_logs + self.executions + self.steps_with_them + self.logs_with_them


@dataclass
class CleanupResult:
    """What a cleanup removed and how long it took."""

    logs_deleted: int = 0
    executions_deleted: int = 0
    seconds: float = 0.0
    batches: int = 0


def cutoffs(
    *, logs_days: int, executions_days: int, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The two cut-off times; anything strictly older goes."""
    if logs_days < 1 or executions_days < 1:
        raise ValueError("retention days must be at least 1")
    now = now or utcnow()
    return now - timedelta(days=logs_days), now - timedelta(days=executions_days)


def _old_executions(before: datetime) -> sa.Select[tuple[str]]:
    return sa.select(E.id).where(E.status.in_(FINISHED), E.created_at < before)


def plan_cleanup(
    db: Database, *, logs_days: int, executions_days: int, now: datetime | None = None
) -> CleanupPlan:
    """Count what a cleanup would remove (the ``--dry-run``); changes nothing."""
    logs_before, executions_before = cutoffs(
        logs_days=logs_days, executions_days=executions_days, now=now
    )
    old = _old_executions(executions_before).subquery()
    count = sa.func.count()
    with db.read_engine.connect() as conn:
        old_logs = conn.execute(sa.select(count).where(L.timestamp < logs_before)).scalar_one()
        executions = conn.execute(sa.select(count).select_from(old)).scalar_one()
        steps = conn.execute(
            sa.select(count).where(S.execution_id.in_(sa.select(old.c.id)))
        ).scalar_one()
        their_logs = conn.execute(
            sa.select(count).where(
                L.execution_id.in_(sa.select(old.c.id)), L.timestamp >= logs_before
            )
        ).scalar_one()
    return CleanupPlan(logs_before, executions_before, old_logs, executions, steps, their_logs)


def run_cleanup(
    db: Database,
    *,
    logs_days: int,
    executions_days: int,
    actor: str,
    batch_size: int = DEFAULT_BATCH,
    now: datetime | None = None,
    progress: Progress | None = None,
    plan: CleanupPlan | None = None,
) -> CleanupResult:
    """Delete old log lines, then old finished executions, ``batch_size`` rows at a time."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    plan = plan or plan_cleanup(db, logs_days=logs_days, executions_days=executions_days, now=now)
    started = time.perf_counter()
    result = CleanupResult()
    log_table = table_of(WorkflowExecutionLog)
    execution_table = table_of(WorkflowExecution)

    def batches(what: str, table: sa.Table, pick: sa.Select[tuple[object]], total: int) -> int:
        done = 0
        while True:
            batch = pick.limit(batch_size).scalar_subquery()
            with db.engine.begin() as conn:
                deleted = conn.execute(sa.delete(table).where(table.c.id.in_(batch))).rowcount
            done += deleted
            if deleted:
                result.batches += 1
                if progress is not None:
                    progress(what, done, max(total, done))
            if deleted < batch_size:
                return done

    result.logs_deleted = batches(
        "logs",
        log_table,
        sa.select(L.id).where(L.timestamp < plan.logs_before).order_by(L.timestamp),
        plan.old_logs,
    )
    result.executions_deleted = batches(
        "executions",
        execution_table,
        _old_executions(plan.executions_before),
        plan.executions,
    )
    result.seconds = time.perf_counter() - started
    with session_scope(db) as session:
        record_audit(
            session,
            actor=actor,
            action="maintenance.cleanup",
            target_type="database",
            details={
                "logs_days": logs_days,
                "executions_days": executions_days,
                "logs_deleted": result.logs_deleted,
                "executions_deleted": result.executions_deleted,
            },
        )
    return result
