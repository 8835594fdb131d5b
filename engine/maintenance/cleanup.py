"""Retention cleanup: old log lines and old finished executions, in short batches.

Each batch is its own transaction that deletes rows picked through an index (log lines
by ``timestamp``; executions by ``created_at``), so no lock is held for long and workers
keep writing while it runs. Batches are sized by time, not count (``batch_pacing``):
each aims at ``target_seconds`` (250 ms), at most ``batch_size`` rows. On PostgreSQL
(``pg_cleanup``) a batch resumes its index walk where the last one stopped, skips rows
another transaction holds, gives up on a lock after 100 ms and is cancelled after 5 s;
a cancelled batch is retried smaller. Deleting an execution takes its steps and log
lines with it (ON DELETE CASCADE). PENDING and RUNNING executions are never touched,
whatever their age. The workflows' counters are lifetime totals and stay as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from engine.access.audit import record_outcome
from engine.db import Database, first_line
from engine.maintenance import pg_cleanup
from engine.maintenance.batch_pacing import TARGET_SECONDS, BatchPacer
from engine.models import (
    ExecutionStatus,
    WorkflowExecution,
    WorkflowExecutionLog,
    WorkflowExecutionStep,
    table_of,
    utcnow,
)

FINISHED = (
    ExecutionStatus.SUCCESS.value,
    ExecutionStatus.FAILED.value,
    ExecutionStatus.CANCELLED.value,
    ExecutionStatus.SKIPPED.value,
)
DEFAULT_BATCH = 20_000
"""The most rows one batch deletes; the pacer usually picks fewer."""
LOCK_TIMEOUT_MS = pg_cleanup.LOCK_TIMEOUT_MS
CLEANUP_ACTION = "maintenance.cleanup"
GIVE_UP_AFTER = 8
"""Consecutive cancelled batches (lock or statement timeout) before the cleanup stops."""
_RETRYABLE = {"55P03", "57014"}  # lock_not_available, query_canceled

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
    batch_seconds: list[float] = field(default_factory=list)
    """How long each committed batch took, in order."""
    timeouts: int = 0
    """Batches cancelled by the lock or statement timeout (and retried smaller)."""

    @property
    def longest_batch(self) -> float:
        return max(self.batch_seconds, default=0.0)


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


def _delete_batch(db: Database, table: sa.Table, pick: sa.Select[tuple[object]]) -> int:
    """One transaction deleting the rows ``pick`` selects (SQLite); returns how many went."""
    with db.engine.begin() as conn:
        return int(
            conn.execute(sa.delete(table).where(table.c.id.in_(pick.scalar_subquery()))).rowcount
        )


def _deleters(db: Database, plan: CleanupPlan) -> dict[str, Callable[[int], int]]:
    """For logs, then executions: a function deleting one batch of at most ``size`` rows."""
    if db.engine.dialect.name == "postgresql":
        return {
            "logs": pg_cleanup.OldestFirst(db, pg_cleanup.LOGS, plan.logs_before),
            "executions": pg_cleanup.OldestFirst(
                db, pg_cleanup.EXECUTIONS, plan.executions_before, {"finished": list(FINISHED)}
            ),
        }
    logs = sa.select(L.id).where(L.timestamp < plan.logs_before).order_by(L.timestamp)
    executions = _old_executions(plan.executions_before)
    log_table, execution_table = table_of(WorkflowExecutionLog), table_of(WorkflowExecution)
    return {
        "logs": lambda size: _delete_batch(db, log_table, logs.limit(size)),
        "executions": lambda size: _delete_batch(db, execution_table, executions.limit(size)),
    }


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
    target_seconds: float = TARGET_SECONDS,
    now: datetime | None = None,
    progress: Progress | None = None,
    plan: CleanupPlan | None = None,
) -> CleanupResult:
    """Delete old log lines, then old finished executions, in batches of about
    ``target_seconds`` each and at most ``batch_size`` rows."""
    BatchPacer(batch_size, target_seconds)  # refuse bad sizes before counting anything
    plan = plan or plan_cleanup(db, logs_days=logs_days, executions_days=executions_days, now=now)
    started = time.perf_counter()
    result = CleanupResult()
    deleters = _deleters(db, plan)
    deleted = {"logs": 0, "executions": 0}

    def batches(what: str, total: int) -> None:
        delete_batch = deleters[what]
        pacer = BatchPacer(batch_size, target_seconds)  # per table: costs per row differ
        strikes = 0
        while True:
            size = pacer.size
            began = time.perf_counter()
            try:
                count = delete_batch(size)
            except sa.exc.OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) not in _RETRYABLE:
                    raise
                result.timeouts += 1
                strikes += 1
                if strikes >= GIVE_UP_AFTER:
                    raise
                pacer.failed()
                time.sleep(0.01 * strikes)  # let whoever holds the lock finish
                continue
            seconds = time.perf_counter() - began
            strikes = 0
            pacer.record(count, seconds)
            deleted[what] += count
            if count:
                result.batches += 1
                result.batch_seconds.append(seconds)
                if progress is not None:
                    progress(what, deleted[what], max(total, deleted[what]))
            if count < size:
                return

    failure: BaseException | None = None
    try:
        batches("logs", plan.old_logs)
        batches("executions", plan.executions)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        # Committed batches stay deleted whatever happens next: the audit row says so.
        result.logs_deleted, result.executions_deleted = deleted["logs"], deleted["executions"]
        result.seconds = time.perf_counter() - started
        details: dict[str, object] = {
            "logs_days": logs_days,
            "executions_days": executions_days,
            "logs_deleted": result.logs_deleted,
            "executions_deleted": result.executions_deleted,
            "completed": failure is None,
        }
        if failure is not None:
            details["error"] = first_line(failure)
        record_outcome(db, actor=actor, action=CLEANUP_ACTION, target_type="database",
                       details=details, failure=failure)  # fmt: skip
    return result
