"""Triggers create executions: the row commits first, then the queue is told.

An enqueue that fails (Redis down) leaves a PENDING row that the sweeper enqueues later,
so a trigger never loses a run. Rows go in only for workflows still enabled at the
version the trigger looked up (engine/triggers/versioned_inserts.py): a workflow disabled or
saved again between the cached lookup and the insert is asked for again, uncached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import psycopg
import sqlalchemy as sa

from engine.access.audit import authorize, record_audit
from engine.access.roles import Permission
from engine.db import Database, session_scope
from engine.execution import postgres_pipeline
from engine.execution.claims import EXECUTIONS, LOGS, add_counters
from engine.models import AuditLog, new_id, table_of, utcnow
from engine.triggers import ingress
from engine.triggers.versioned_inserts import insert_all_if_current, insert_if_current
from engine.workflow_cache.lookups import (
    WorkflowNotFound,
    WorkflowRef,
    event_listeners,
    find_workflow,
    fresh_workflow,
    load_listeners,
)

log = logging.getLogger("wfconsole.runs")
_INSERT_AUDIT = sa.insert(table_of(AuditLog))
_INSERT_LOGS = sa.insert(LOGS)


class Dispatcher(Protocol):
    """Anything that can tell workers to look at an execution (``engine.workers.runtime.Queue``)."""

    def dispatch(self, execution_id: str, delay: float | None = None) -> None: ...


class WorkflowDisabled(Exception):
    """A manual run of a disabled workflow."""

    def __init__(self, name: str) -> None:
        super().__init__(f"workflow {name!r} is disabled; enable it first")


class WorkflowBusy(WorkflowDisabled):
    """A manual run refused because the workflow kept changing while it was being started.

    Answered as a disabled workflow is (409, one line): nothing was written; try again.
    """

    def __init__(self, name: str) -> None:
        Exception.__init__(self, f"workflow {name!r} changed while starting it; try again")


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
        # A run whose conditions are false is stored finished (engine/triggers/ingress.py).
        "started_at": None,
        "completed_at": None,
        "duration_ms": None,
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
    """Manual trigger: create ``count`` executions of the named workflow and enqueue them.

    The workflow comes from the cache; if the insert finds it changed since, it is read
    again from the database: missing or disabled is refused, a new version is run (one
    retry; a workflow changing again meanwhile raises ``WorkflowBusy``).
    """
    workflow = find_workflow(db, name)
    for _ in range(2):
        started = _insert_run(db, _runnable(workflow, name), name, data or {}, actor, count)
        if started is not None:
            ids, pending = started
            dispatch_all(queue, pending)
            return ids
        db.workflow_cache.recheck_now()
        workflow = fresh_workflow(db, name)
    _runnable(workflow, name)
    raise WorkflowBusy(name)


def _runnable(workflow: WorkflowRef | None, name: str) -> WorkflowRef:
    if workflow is None:
        raise WorkflowNotFound(name)
    if not workflow.enabled:
        raise WorkflowDisabled(name)
    return workflow


def _insert_run(
    db: Database,
    workflow: WorkflowRef,
    name: str,
    data: dict[str, Any],
    actor: str,
    count: int,
) -> tuple[list[str], list[str]] | None:
    """The new execution ids and those to enqueue (not skipped by their conditions), or
    None when the workflow changed since its lookup."""
    now = utcnow()
    rows = [_row(workflow.id, workflow.version, "manual", data, now, 0) for _ in range(count)]
    ingress.decide(db, rows)
    audit = {
        "timestamp": now,
        "actor": actor,
        "action": "workflow.run",
        "target_type": "workflow",
        "target_id": workflow.id,
        "details": {"name": name, "executions": count},
    }
    try:
        inserted = insert_executions(db, rows, audit)
    except (sa.exc.IntegrityError, psycopg.IntegrityError):
        inserted = False  # deleted between the condition and its foreign key check
    if not inserted:
        return None
    return [row["id"] for row in rows], ingress.pending_ids(rows, [row["id"] for row in rows])


def insert_executions(
    db: Database, rows: list[dict[str, Any]], audit: dict[str, Any] | None = None
) -> bool:
    """Commit a trigger's execution rows (and its audit row) in one transaction.

    All or nothing: only if every row's workflow is still enabled at the row's version;
    False (nothing written) otherwise. Rows ``ingress.decide`` marked SKIPPED go in with
    their log line and the workflow's counters. Core statements, not the ORM: every manual
    run and webhook passes here. On PostgreSQL the whole transaction is one pipelined round
    trip (``postgres_pipeline.insert_groups``).
    """
    return insert_groups(db, [rows], audit)[0]


def insert_groups(
    db: Database,
    groups: Sequence[list[dict[str, Any]]],
    audit: dict[str, Any] | None = None,
) -> list[bool]:
    """Commit the rows of several triggers (webhook requests of one group commit) in one
    transaction; each group all or nothing, as ``insert_executions``. Returns, per group,
    whether its rows went in. ``audit`` is written only when every group went in.
    """
    with db.engine.connect() as conn:
        if postgres_pipeline.fast_path(conn):
            return postgres_pipeline.insert_groups(conn, groups, audit)
        results: list[bool] = []
        with conn.begin():
            for rows in groups:
                whole = insert_all_if_current(conn, rows)
                if not whole and rows:  # some went in: take them out again, all or nothing
                    conn.execute(
                        sa.delete(EXECUTIONS).where(EXECUTIONS.c.id.in_([r["id"] for r in rows]))
                    )
                results.append(whole)
            write_skipped(
                conn, [r for ok, rows in zip(results, groups, strict=True) if ok for r in rows]
            )
            if audit is not None and all(results) and any(groups):
                conn.execute(_INSERT_AUDIT, audit)
    return results


def write_skipped(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """For the inserted ``rows`` that are SKIPPED: their log lines and the workflows'
    counters (one UPDATE per workflow, in id order as commit rounds lock them)."""
    skipped = ingress.skipped_rows(rows)
    if not skipped:
        return
    conn.execute(_INSERT_LOGS, ingress.skipped_logs(skipped))
    counters = ingress.skipped_counters(skipped)
    for workflow_id in sorted(counters):
        add_counters(conn, workflow_id, counters[workflow_id])


class Started(list[str]):
    """New execution ids; ``to_enqueue`` those not skipped at ingress by their conditions."""

    def __init__(self, ids: Sequence[str], to_enqueue: Sequence[str]) -> None:
        super().__init__(ids)
        self.to_enqueue = list(to_enqueue)


def start_listeners(
    db: Database,
    conn: sa.Connection,
    event: str,
    listeners: Sequence[WorkflowRef],
    make_row: Callable[[WorkflowRef], dict[str, Any]],
) -> Started:
    """Insert a row per listener in the caller's transaction; returns the new ids.

    A listener found disabled or changed since the (cached) lookup gets no row; the
    listeners are then read again in this transaction, and those not started yet — at
    their current version, newly enabled ones too — get one. A row whose conditions are
    false goes in SKIPPED (with its log line and counters) and is not to be enqueued.
    """
    rows = [make_row(workflow) for workflow in listeners]
    ingress.decide(db, rows)
    ids = insert_if_current(conn, rows)
    if len(ids) != len(rows):
        db.workflow_cache.recheck_now()
        new = set(ids)
        started = {row["workflow_id"] for row in rows if row["id"] in new}
        current = [w for w in load_listeners(conn, event) if w.id not in started]
        more = [make_row(workflow) for workflow in current]
        ingress.decide(db, more)
        ids += insert_if_current(conn, more)
        rows += more
    return _started(conn, rows, ids)


def _started(conn: sa.Connection, rows: list[dict[str, Any]], ids: list[str]) -> Started:
    inserted = set(ids)
    write_skipped(conn, [row for row in rows if row["id"] in inserted])
    return Started(ids, ingress.pending_ids(rows, ids))


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
        ids = start_listeners(
            db,
            session.connection(),
            event,
            listeners,
            lambda w: _row(w.id, w.version, "event", data or {}, now, depth),
        )
        record_audit(
            session,
            actor=actor,
            action="event.emit",
            target_type="event",
            target_id=event,
            details={"executions": len(ids)},
        )
    dispatch_all(queue, ids.to_enqueue)
    return list(ids)


def insert_once(conn: sa.Connection, rows: list[dict[str, Any]]) -> Started:
    """Insert executions, skipping any whose ``dedupe_key`` exists; returns the new ids
    (``to_enqueue``: those not SKIPPED by ``ingress.decide``, whose log lines and counters
    go in here too).

    Unconditional: for callers that read their workflows in the same transaction (cron).
    """
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
    return _started(conn, rows, inserted)


def emit_from_step(
    db: Database,
    event: str,
    data: dict[str, Any],
    *,
    execution_id: str,
    step_index: int,
    depth: int,
) -> Started:
    """Start the listeners of ``event`` for one step's emission, once per listener.

    Each execution is keyed ``event:<execution>:<step>:<workflow>``, so a step that runs
    again after a crash or a retry emits nothing twice. The caller enqueues the ids
    (``Started.to_enqueue``: runs whose conditions are false are already SKIPPED).
    """
    now = utcnow()
    listeners = event_listeners(db, event)

    def make_row(workflow: WorkflowRef) -> dict[str, Any]:
        row = _row(workflow.id, workflow.version, "event", data, now, depth)
        row["dedupe_key"] = f"event:{execution_id}:{step_index}:{workflow.id}"
        return row

    with session_scope(db) as session:
        return start_listeners(db, session.connection(), event, listeners, make_row)
