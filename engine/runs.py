"""Triggers create executions: the row commits first, then the queue is told.

An enqueue that fails (Redis down) leaves a PENDING row that the sweeper enqueues later,
so a trigger never loses a run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import col, select

from engine.db import Database, session_scope
from engine.execution_store import EXECUTIONS
from engine.models import Workflow, WorkflowTrigger, new_id, utcnow
from engine.services.audit import record_audit
from engine.services.workflows import WorkflowNotFound

log = logging.getLogger("wfconsole.runs")


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
    """Enqueue each id; a failure is logged and left to the sweeper. Returns how many went."""
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
    with session_scope(db) as session:
        workflow = session.exec(select(Workflow).where(Workflow.name == name)).first()
        if workflow is None:
            raise WorkflowNotFound(name)
        if not workflow.enabled:
            raise WorkflowDisabled(name)
        rows = [
            _row(workflow.id, workflow.version, "manual", data or {}, now, 0) for _ in range(count)
        ]
        session.connection().execute(sa.insert(EXECUTIONS), rows)
        record_audit(
            session,
            actor=actor,
            action="workflow.run",
            target_type="workflow",
            target_id=workflow.id,
            details={"name": name, "executions": count},
        )
    ids = [row["id"] for row in rows]
    dispatch_all(queue, ids)
    return ids


def emit_event(
    db: Database,
    queue: Dispatcher,
    event: str,
    data: dict[str, Any] | None = None,
    *,
    actor: str,
    depth: int = 0,
) -> list[str]:
    """Start every enabled workflow listening for ``event``; returns the new execution ids."""
    now = utcnow()
    with session_scope(db) as session:
        listeners = session.exec(
            select(Workflow.id, Workflow.version)
            .join(WorkflowTrigger, col(WorkflowTrigger.workflow_id) == col(Workflow.id))
            .where(WorkflowTrigger.type == "event", WorkflowTrigger.key == event)
            .where(col(Workflow.enabled).is_(True))
            .distinct()
        ).all()
        rows = [_row(wid, version, "event", data or {}, now, depth) for wid, version in listeners]
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
