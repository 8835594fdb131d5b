"""The SQL of an execution's lifecycle: claim, record a step, finish, hand back for retry.

Every statement is conditional on the row still being ours (``status = RUNNING`` and
``worker_id``), so a worker whose lease the sweeper took back changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.models import (
    ExecutionStatus,
    Workflow,
    WorkflowExecution,
    WorkflowExecutionLog,
    WorkflowExecutionStep,
    table_of,
)

EXECUTIONS = table_of(WorkflowExecution)
WORKFLOWS = table_of(Workflow)
STEPS = table_of(WorkflowExecutionStep)
LOGS = table_of(WorkflowExecutionLog)
E, W = EXECUTIONS.c, WORKFLOWS.c
RUNNING, PENDING = ExecutionStatus.RUNNING.value, ExecutionStatus.PENDING.value


@dataclass(frozen=True)
class Claimed:
    """What a successful claim returns: enough to run without another query."""

    id: str
    workflow_id: str
    workflow_version: int
    trigger_type: str
    trigger_data: dict[str, Any]
    retry_count: int
    next_step: int
    event_depth: int


@dataclass(frozen=True)
class ClaimRefusal:
    """Why a claim took nothing: gone/finished, not due yet, or the concurrency cap."""

    reason: str  # "absent" | "not_pending" | "not_due" | "busy"
    available_at: datetime | None = None


@dataclass
class PendingWrites:
    """Step and log rows gathered in memory and written with the next commit."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)

    def flush(self, conn: Connection) -> None:
        """Insert everything gathered, in as few statements as possible."""
        if self.steps:
            # One row per step: a step run again (retry) replaces its failed attempt's row.
            # A first attempt has no earlier rows, so the hot path skips the DELETE.
            retried = [s for s in self.steps if s["attempt"] > 0]
            for execution_id in {step["execution_id"] for step in retried}:
                indexes = [s["step_index"] for s in retried if s["execution_id"] == execution_id]
                conn.execute(
                    sa.delete(STEPS).where(
                        STEPS.c.execution_id == execution_id, STEPS.c.step_index.in_(indexes)
                    )
                )
            conn.execute(sa.insert(STEPS), self.steps)
            self.steps = []
        if self.logs:
            conn.execute(sa.insert(LOGS), self.logs)
            self.logs = []


def claim(
    conn: Connection,
    execution_id: str,
    *,
    now: datetime,
    lease_until: datetime,
    worker_id: str,
    max_running: int,
) -> Claimed | ClaimRefusal:
    """PENDING → RUNNING in one conditional UPDATE, unless the RUNNING cap is already full.

    Two workers claiming at the same moment can both pass the cap test; the caller checks
    ``over_cap`` after committing and gives the claim back (see ``Executor.run``).
    """
    if conn.dialect.name == "postgresql":
        # A claim need not wait for its WAL flush: a claim lost in a crash leaves the row
        # PENDING (nothing ran), and any later commit of this run flushes it anyway.
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
    running = (
        sa.select(sa.func.count()).select_from(EXECUTIONS).where(E.status == RUNNING)
    ).scalar_subquery()
    row = conn.execute(
        sa.update(EXECUTIONS)
        .where(E.id == execution_id, E.status == PENDING, E.available_at <= now)
        .where(running < max_running)
        .values(
            status=RUNNING,
            started_at=sa.func.coalesce(E.started_at, now),
            lease_until=lease_until,
            worker_id=worker_id,
            cancel_requested=False,
        )
        .returning(
            E.id,
            E.workflow_id,
            E.workflow_version,
            E.trigger_type,
            E.trigger_data,
            E.retry_count,
            E.next_step,
            E.event_depth,
        )
    ).first()
    if row is not None:
        return Claimed(*row)
    current = conn.execute(sa.select(E.status, E.available_at).where(E.id == execution_id)).first()
    if current is None:
        return ClaimRefusal("absent")
    if current.status != PENDING:
        return ClaimRefusal("not_pending")
    if current.available_at > now:
        return ClaimRefusal("not_due", current.available_at)
    return ClaimRefusal("busy")


def over_cap(conn: Connection, max_running: int) -> bool:
    """True when more than ``max_running`` executions are RUNNING (read after our claim commits).

    Whichever of two racing claims checks last sees both, so the cap is never exceeded by
    a claim that goes on to run a step; at worst both give back and try again shortly.
    """
    count = conn.execute(
        sa.select(sa.func.count()).select_from(EXECUTIONS).where(E.status == RUNNING)
    ).scalar_one()
    return bool(count > max_running)


def give_back(conn: Connection, execution_id: str, *, worker_id: str) -> None:
    """Undo a claim that found the cap full: RUNNING → PENDING, nothing counted."""
    conn.execute(
        sa.update(EXECUTIONS)
        .where(_ours(execution_id, worker_id))
        .values(status=PENDING, lease_until=None, worker_id=None)
    )


def _ours(execution_id: str, worker_id: str) -> Any:
    return sa.and_(E.id == execution_id, E.status == RUNNING, E.worker_id == worker_id)


def extend_lease(
    conn: Connection, execution_id: str, *, worker_id: str, lease_until: datetime
) -> None:
    """Move the lease of an execution we hold."""
    conn.execute(
        sa.update(EXECUTIONS).where(_ours(execution_id, worker_id)).values(lease_until=lease_until)
    )


def record_step(
    conn: Connection,
    execution_id: str,
    *,
    worker_id: str,
    next_step: int,
    lease_until: datetime,
    writes: PendingWrites,
) -> bool | None:
    """Commit a finished step; returns cancel_requested, or None when the row is no longer ours."""
    row = conn.execute(
        sa.update(EXECUTIONS)
        .where(_ours(execution_id, worker_id))
        .values(next_step=next_step, lease_until=lease_until)
        .returning(E.cancel_requested)
    ).first()
    if row is None:
        return None
    writes.flush(conn)
    return bool(row.cancel_requested)


def finish(
    conn: Connection,
    execution_id: str,
    *,
    worker_id: str,
    workflow_id: str,
    status: str,
    now: datetime,
    duration_ms: float,
    next_step: int,
    result: dict[str, Any] | None,
    error: str | None,
    writes: PendingWrites,
) -> bool:
    """Final state, step rows, logs and the workflow's counters in one transaction."""
    updated = conn.execute(
        sa.update(EXECUTIONS)
        .where(_ours(execution_id, worker_id))
        .values(
            status=status,
            completed_at=now,
            duration_ms=duration_ms,
            next_step=next_step,
            result=result,
            error=error,
            lease_until=None,
        )
    ).rowcount
    if updated != 1:
        return False
    writes.flush(conn)
    bump_counters(conn, workflow_id, status=status, duration_ms=duration_ms, now=now)
    return True


def bump_counters(
    conn: Connection, workflow_id: str, *, status: str, duration_ms: float | None, now: datetime
) -> None:
    """Count one more finished run on the workflow; SUCCESS/FAILED feed the average."""
    # Workers commit out of order: a run that finished earlier must not move it back.
    latest = sa.case(
        (sa.or_(W.last_execution_at.is_(None), W.last_execution_at < now), now),
        else_=W.last_execution_at,
    )
    values: dict[str, Any] = {"execution_count": W.execution_count + 1, "last_execution_at": latest}
    if status in (ExecutionStatus.SUCCESS, ExecutionStatus.FAILED) and duration_ms is not None:
        timed = W.success_count + W.failure_count
        values["avg_execution_ms"] = (
            sa.func.coalesce(W.avg_execution_ms, 0.0) * timed + duration_ms
        ) / (timed + 1)
        counter = "success_count" if status == ExecutionStatus.SUCCESS else "failure_count"
        values[counter] = getattr(W, counter) + 1
    conn.execute(sa.update(WORKFLOWS).where(W.id == workflow_id).values(**values))


def hand_back(
    conn: Connection,
    execution_id: str,
    *,
    worker_id: str,
    next_step: int,
    available_at: datetime,
    error: str,
    writes: PendingWrites,
) -> bool:
    """RUNNING → PENDING with retry_count + 1, due at ``available_at``.

    Refused (False) when a cancel was requested: the claim clears that flag, so a handed
    back run would otherwise forget it and run again.
    """
    updated = conn.execute(
        sa.update(EXECUTIONS)
        .where(_ours(execution_id, worker_id), E.cancel_requested == sa.false())
        .values(
            status=PENDING,
            retry_count=E.retry_count + 1,
            available_at=available_at,
            next_step=next_step,
            lease_until=None,
            worker_id=None,
            error=error,
        )
    ).rowcount
    if updated != 1:
        return False
    writes.flush(conn)
    return True


def finished_step_results(
    conn: Connection, execution_id: str, *, before: int
) -> list[dict[str, Any]]:
    """Results of the steps finished before ``before``, for the ``steps`` context on resume.

    The failed attempt of the step being retried is not among them: it runs again.
    """
    rows = conn.execute(
        sa.select(STEPS.c.step_index, STEPS.c.action_type, STEPS.c.status, STEPS.c.result)
        .where(STEPS.c.execution_id == execution_id, STEPS.c.step_index < before)
        .order_by(STEPS.c.step_index)
    )
    return [
        {"index": r.step_index, "type": r.action_type, "status": r.status, "result": r.result}
        for r in rows
    ]
