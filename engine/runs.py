"""Triggers create executions: the row commits first, then the queue is told.

An enqueue that fails (Redis down) leaves a PENDING row that the sweeper enqueues later,
so a trigger never loses a run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import psycopg
import sqlalchemy as sa

from engine import pg_store
from engine.db import Database, session_scope
from engine.execution_store import EXECUTIONS
from engine.models import AuditLog, new_id, table_of, utcnow
from engine.roles import Permission
from engine.services.audit import authorize, record_audit
from engine.services.workflows import WorkflowNotFound
from engine.workflow_lookups import event_listeners, find_workflow

log = logging.getLogger("wfconsole.runs")
_INSERT_AUDIT = sa.insert(table_of(AuditLog))


class Dispatcher(Protocol):
    """Anything that can tell workers to look at an execution (``engine.queue.Queue``)."""

    def dispatch(self, execution_id: str, delay: float | None = None) -> None: ...


class WorkflowDisabled(Exception):
    """A manual run of a disabled workflow."""

    def __init__(self, name: str) -> None:
        super().__init__(f"workflow {name!r} is disabled; enable it first")


def _row(
    workflow_id: str,
    version: int,
    trigger_type: str,
    data: dict[str, Any],
    now: datetime,
    depth: int,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "workflow_id": workflow_id,
        "workflow_version": version,
        "status": "PENDING",
        "trigger_type": trigger_type,
        "trigger_data": data,
        "created_at": now,
        "available_at": now,
        "retry_count": 0,
        "next_step": 0,
        "cancel_requested": False,
        "event_depth": depth,
    }


def dispatch_all(queue: Dispatcher, execution_ids: Sequence[str]) -> int:
    """Enqueue each id; a failure is logged and left to the sweeper. Returns how many went.

    A queue that batches (``Queue.dispatch_many``) gets them all at once: a few ids per
    message, so workers claim and commit them together.
    """
    many = getattr(queue, "dispatch_many", None)
    if many is not None and len(execution_ids) > 1:
        try:
            many(execution_ids)
        except Exception as exc:
            log.warning(
                "could not enqueue %d execution(s) (%s); the sweeper will enqueue them",
                len(execution_ids),
                exc,
            )
            return 0
        return len(execution_ids)
    sent = 0
    for execution_id in execution_ids:
        try:
            queue.dispatch(execution_id)
            sent += 1
        except Exception as exc:
            log.warning("could not enqueue %s (%s); the sweeper will enqueue it", execution_id, exc)
    return sent


def run_workflow(
    db: Database,
    queue: Dispatcher,
    name: str,
    data: dict[str, Any] | None = None,
    *,
    actor: str,
    count: int = 1,
) -> list[str]:
    """Manual trigger: create ``count`` executions of the named workflow and enqueue them."""
    now = utcnow()
    workflow = find_workflow(db, name)
    if workflow is None:
        raise WorkflowNotFound(name)
    if not workflow.enabled:
        raise WorkflowDisabled(name)
    rows = [_row(workflow.id, workflow.version, "manual", data or {}, now, 0) for _ in range(count)]
    audit = {
        "timestamp": now,
        "actor": actor,
        "action": "workflow.run",
        "target_type": "workflow",
        "target_id": workflow.id,
        "details": {"name": name, "executions": count},
    }
    try:
        insert_executions(db, rows, audit)
    except (sa.exc.IntegrityError, psycopg.IntegrityError):
        raise WorkflowNotFound(name) from None  # deleted since the lookup: its key is gone
    ids = [row["id"] for row in rows]
    dispatch_all(queue, ids)
    return ids


def insert_executions(
    db: Database, rows: list[dict[str, Any]], audit: dict[str, Any] | None = None
) -> None:
    """Commit a trigger's execution rows (and its audit row) in one transaction.

    Core statements, not the ORM: every manual run and webhook passes here. On PostgreSQL
    the whole transaction is one pipelined round trip (``pg_store.insert_executions``).
    """
    with db.engine.connect() as conn:
        if pg_store.fast_path(conn):
            pg_store.insert_executions(conn, rows, audit)
            return
        with conn.begin():
            conn.execute(sa.insert(EXECUTIONS), rows)
            if audit is not None:
                conn.execute(_INSERT_AUDIT, audit)


def emit_event(
    db: Database,
    queue: Dispatcher,
    event: str,
    data: dict[str, Any] | None = None,
    *,
    actor: str,
    depth: int = 0,
    check_role: bool = False,
) -> list[str]:
    """Start every enabled workflow listening for ``event``; returns the new execution ids.

    ``check_role`` requires ``Permission.OPERATE`` for the actor's stored role first, in
    the same transaction.
    """
    now = utcnow()
    listeners = event_listeners(db, event)
    with session_scope(db) as session:
        if check_role:
            authorize(session, actor, Permission.OPERATE)
        rows = [_row(w.id, w.version, "event", data or {}, now, depth) for w in listeners]
        if rows:
            session.connection().execute(sa.insert(EXECUTIONS), rows)
        record_audit(
            session,
            actor=actor,
            action="event.emit",
            target_type="event",
            target_id=event,
            details={"executions": len(rows)},
        )
    ids = [row["id"] for row in rows]
    dispatch_all(queue, ids)
    return ids


def insert_once(conn: sa.Connection, rows: list[dict[str, Any]]) -> list[str]:
    """Insert executions, skipping any whose ``dedupe_key`` exists; returns the new ids."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(EXECUTIONS)
        .on_conflict_do_nothing(
            index_elements=["dedupe_key"], index_where=sa.text("dedupe_key IS NOT NULL")
        )
        .returning(EXECUTIONS.c.id)
    )
    inserted: list[str] = []
    for row in rows:  # RETURNING says which ones were new
        inserted.extend(str(i) for i in conn.execute(statement, row).scalars().all())
    return inserted


def emit_from_step(
    db: Database,
    event: str,
    data: dict[str, Any],
    *,
    execution_id: str,
    step_index: int,
    depth: int,
) -> list[str]:
    """Start the listeners of ``event`` for one step's emission, once per listener.

    Each execution is keyed ``event:<execution>:<step>:<workflow>``, so a step that runs
    again after a crash or a retry emits nothing twice. The caller enqueues the ids.
    """
    now = utcnow()
    listeners = event_listeners(db, event)
    with session_scope(db) as session:
        rows = []
        for workflow in listeners:
            row = _row(workflow.id, workflow.version, "event", data, now, depth)
            row["dedupe_key"] = f"event:{execution_id}:{step_index}:{workflow.id}"
            rows.append(row)
        return insert_once(session.connection(), rows)
