"""Operator changes to a workflow: enable/disable, delete, run now, and its schedule preview.

Every change checks the actor's role (``engine.access.roles``) and writes its audit row in the
same transaction as the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from engine.access.audit import authorize, record_audit
from engine.access.roles import Permission
from engine.db import Database, session_scope
from engine.models import Workflow, WorkflowExecution, utcnow
from engine.services.workflows import WorkflowNotFound
from engine.triggers.new_executions import Dispatcher, run_workflow
from engine.triggers.schedule import DEFAULT_COUNT, next_fire_times
from engine.workflow_cache.cache import mark_changed


def _workflow(session: Session, name: str, *, lock: bool = False) -> Workflow:
    query = select(Workflow).where(Workflow.name == name)
    if lock:
        query = query.with_for_update()
    workflow = session.exec(query).first()
    if workflow is None:
        raise WorkflowNotFound(name)
    return workflow


def _execution_count(session: Session, workflow_id: str) -> int:
    # Served by idx_execution_workflow_status (leading workflow_id): no table scan.
    return session.exec(
        select(func.count())
        .select_from(WorkflowExecution)
        .where(WorkflowExecution.workflow_id == workflow_id)
    ).one()


def set_enabled(db: Database, name: str, enabled: bool, *, actor: str) -> bool:
    """Enable or disable a workflow; True when that changed it.

    An operational switch, not an edit of the definition: the version stays the same.
    """
    with session_scope(db) as session:
        authorize(session, actor, Permission.EDIT)
        workflow = _workflow(session, name, lock=True)
        if workflow.enabled == enabled:
            return False
        workflow.enabled = enabled
        workflow.updated_at = utcnow()
        session.add(workflow)
        mark_changed(session)
        record_audit(
            session,
            actor=actor,
            action="workflow.enable" if enabled else "workflow.disable",
            target_type="workflow",
            target_id=workflow.id,
            details={"name": workflow.name},
        )
    return True


def count_executions(db: Database, name: str) -> int:
    """How many executions (of any status) the workflow has: what deleting it removes."""
    with db.read_session() as session:
        return _execution_count(session, _workflow(session, name).id)


def delete_workflow(db: Database, name: str, *, actor: str) -> int:
    """Delete a workflow with its versions, triggers and executions; returns how many runs went.

    The foreign keys cascade to executions, their steps and log lines, in one transaction.
    """
    with session_scope(db) as session:
        authorize(session, actor, Permission.EDIT)
        workflow = _workflow(session, name, lock=True)
        executions = _execution_count(session, workflow.id)
        record_audit(
            session,
            actor=actor,
            action="workflow.delete",
            target_type="workflow",
            target_id=workflow.id,
            details={"name": workflow.name, "version": workflow.version, "executions": executions},
        )
        session.connection().execute(sa.delete(Workflow).where(col(Workflow.id) == workflow.id))
        mark_changed(session)
    return executions


def run_now(db: Database, queue: Dispatcher, name: str, payload: Any, *, actor: str) -> list[str]:
    """A manual run with ``payload`` (a JSON object) as the trigger data; returns the ids."""
    if not isinstance(payload, dict):
        raise ValueError("the payload must be a JSON object")
    with session_scope(db) as session:
        authorize(session, actor, Permission.OPERATE)
    return run_workflow(db, queue, name, payload, actor=actor)


@dataclass(frozen=True)
class SchedulePreview:
    """One schedule trigger of a workflow and when it fires next (aware UTC)."""

    position: int
    cron: str
    timezone: str
    fire_times: list[datetime]


def schedule_preview(
    db: Database, name: str, *, after: datetime | None = None, n: int = DEFAULT_COUNT
) -> list[SchedulePreview]:
    """The next ``n`` fire times of each schedule trigger of the workflow, after ``after``."""
    with db.read_session() as session:
        triggers = _workflow(session, name).triggers
    after = after or utcnow()
    previews = []
    for position, trigger in enumerate(triggers):
        if trigger.get("type") != "schedule":
            continue
        cron, zone = str(trigger.get("cron", "")), str(trigger.get("timezone") or "UTC")
        try:
            times = next_fire_times(cron, zone, n=n, after=after)
        except ValueError:
            times = []  # stored before a stricter check; the preview just shows none
        previews.append(SchedulePreview(position, cron, zone, times))
    return previews
