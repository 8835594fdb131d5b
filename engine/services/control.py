"""Operator actions on executions: retry and cancel (console, CLI and API call these)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from engine.access.audit import authorize
from engine.access.roles import Permission
from engine.db import Database
from engine.execution.claims import EXECUTIONS, WORKFLOWS, E, W, bump_counters
from engine.models import AuditLog, ExecutionStatus, table_of, utcnow
from engine.services.executions import ExecutionNotFound
from engine.triggers.new_executions import Dispatcher, dispatch_all

RETRYABLE = (ExecutionStatus.FAILED.value, ExecutionStatus.CANCELLED.value)
ID_CHUNK = 1000


class NotRetryable(Exception):
    """The execution is not in a state a retry applies to."""


@dataclass(frozen=True)
class CancelResult:
    """What cancel did to one execution."""

    id: str
    outcome: str  # "cancelled" | "cancel requested" | "already <STATUS>"


def _unfinish(conn: sa.Connection, workflow_id: str, status: str, duration: float | None) -> None:
    """Take one finished run back out of the workflow's counters (it will be counted again)."""
    values: dict[str, object] = {"execution_count": W.execution_count - 1}
    if status == ExecutionStatus.FAILED.value:
        timed = W.success_count + W.failure_count
        values["failure_count"] = W.failure_count - 1
        if duration is not None:
            values["avg_execution_ms"] = sa.case(
                (
                    timed > 1,
                    (sa.func.coalesce(W.avg_execution_ms, 0.0) * timed - duration) / (timed - 1),
                ),
                else_=None,
            )
    conn.execute(sa.update(WORKFLOWS).where(W.id == workflow_id).values(**values))


def retry_executions(
    db: Database,
    queue: Dispatcher,
    ids: Sequence[str] = (),
    *,
    failed: bool = False,
    workflow: str | None = None,
    actor: str,
    strict: bool = True,
    check_role: bool = False,
) -> list[str]:
    """FAILED/CANCELLED executions back to PENDING; each resumes after its last finished step.

    ``strict`` refuses the whole call when an id is unknown or not retryable; without it
    those ids are left alone (a bulk action whose rows changed since its preview).
    ``check_role`` requires ``Permission.OPERATE`` for the actor's stored role first, in
    the same transaction.
    """
    now = utcnow()
    with db.engine.begin() as conn:
        if check_role:
            require_operate(conn, actor)
        query = sa.select(E.id, E.workflow_id, E.status, E.duration_ms)
        if failed:
            query = query.where(E.status == ExecutionStatus.FAILED.value)
            if workflow is not None:
                query = query.join(WORKFLOWS, W.id == E.workflow_id).where(W.name == workflow)
            rows = {row.id: row for row in conn.execute(query)}
        else:
            # Chunks keep every statement under the drivers' bound-parameter limits
            # (65,535 on PostgreSQL, 32,766 on SQLite) however big the selection.
            wanted = list(dict.fromkeys(ids))
            rows = {}
            for start in range(0, len(wanted), ID_CHUNK):
                chunk = query.where(E.id.in_(wanted[start : start + ID_CHUNK]))
                rows.update((row.id, row) for row in conn.execute(chunk))
        for execution_id in ids if strict else ():
            if execution_id not in rows:
                raise ExecutionNotFound(execution_id)
            if rows[execution_id].status not in RETRYABLE:
                raise NotRetryable(
                    f"execution {execution_id} is {rows[execution_id].status}; only FAILED or"
                    " CANCELLED executions can be retried"
                )
        retried = []
        for row in rows.values():
            done = conn.execute(
                sa.update(EXECUTIONS)
                .where(E.id == row.id, E.status.in_(RETRYABLE))
                .values(
                    status="PENDING",
                    retry_count=E.retry_count + 1,
                    available_at=now,
                    completed_at=None,
                    duration_ms=None,
                    lease_until=None,
                    worker_id=None,
                    cancel_requested=False,
                )
            ).rowcount
            if done:
                _unfinish(conn, row.workflow_id, row.status, row.duration_ms)
                retried.append(row.id)
        if retried:
            conn.execute(
                sa.insert(record_audit_table()),
                [
                    {
                        "actor": actor,
                        "action": "execution.retry",
                        "target_type": "execution",
                        "target_id": i,
                        "timestamp": now,
                    }
                    for i in retried
                ],
            )
    dispatch_all(queue, retried)
    return retried


def require_operate(conn: sa.Connection, actor: str) -> None:
    """Raise ``PermissionDenied`` unless ``actor``'s stored role may retry and cancel.

    A newcomer is recorded as everywhere else (``ensure_user``), in ``conn``'s transaction.
    """
    with Session(bind=conn) as session:
        authorize(session, actor, Permission.OPERATE)


def record_audit_table() -> sa.Table:
    """The audit table, for bulk inserts in a Core transaction."""
    return table_of(AuditLog)


def cancel_executions(
    db: Database, ids: Sequence[str], *, actor: str, check_role: bool = False
) -> list[CancelResult]:
    """PENDING → CANCELLED at once; RUNNING stops before its next step.

    ``check_role`` requires ``Permission.OPERATE`` for the actor's stored role first.
    """
    now = utcnow()
    results = []
    with db.engine.begin() as conn:
        if check_role:
            require_operate(conn, actor)
        for execution_id in ids:
            row = conn.execute(
                sa.update(EXECUTIONS)
                .where(E.id == execution_id, E.status == ExecutionStatus.PENDING.value)
                .values(
                    status=ExecutionStatus.CANCELLED.value,
                    completed_at=now,
                    error="cancelled",
                    lease_until=None,
                )
                .returning(E.workflow_id)
            ).first()
            if row is not None:
                bump_counters(conn, row.workflow_id, status="CANCELLED", duration_ms=None, now=now)
                results.append(CancelResult(execution_id, "cancelled"))
                continue
            requested = conn.execute(
                sa.update(EXECUTIONS)
                .where(E.id == execution_id, E.status == ExecutionStatus.RUNNING.value)
                .values(cancel_requested=True)
            ).rowcount
            if requested:
                results.append(CancelResult(execution_id, "cancel requested"))
                continue
            status = conn.execute(sa.select(E.status).where(E.id == execution_id)).scalar()
            if status is None:
                raise ExecutionNotFound(execution_id)
            results.append(CancelResult(execution_id, f"already {status}"))
        changed = [r.id for r in results if not r.outcome.startswith("already")]
        if changed:
            conn.execute(
                sa.insert(record_audit_table()),
                [
                    {
                        "actor": actor,
                        "action": "execution.cancel",
                        "target_type": "execution",
                        "target_id": i,
                        "timestamp": now,
                    }
                    for i in changed
                ],
            )
    return results
