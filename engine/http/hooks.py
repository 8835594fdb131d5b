"""Webhook triggers: which workflows listen on a path, and starting them from a request."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from engine.db import Database, session_scope
from engine.execution_store import EXECUTIONS
from engine.models import Workflow, WorkflowTrigger, utcnow
from engine.runs import Dispatcher, _row, dispatch_all

log = logging.getLogger("wfconsole.http")


@dataclass(frozen=True)
class Hook:
    """One enabled workflow's webhook trigger on a path."""

    workflow_id: str
    version: int
    secret: str | None
    """As written in the definition: a literal or a ``${NAME}`` reference."""


def hooks_on(db: Database, path: str) -> list[Hook]:
    """Every enabled workflow with a webhook trigger on ``path`` (index lookup)."""
    with db.read_session() as session:
        rows = session.exec(
            select(Workflow.id, Workflow.version, Workflow.triggers)
            .join(WorkflowTrigger, col(WorkflowTrigger.workflow_id) == col(Workflow.id))
            .where(WorkflowTrigger.type == "webhook", WorkflowTrigger.key == path)
            .where(col(Workflow.enabled).is_(True))
            .distinct()
        ).all()
    hooks = []
    for workflow_id, version, triggers in rows:
        for trigger in triggers:
            if trigger.get("type") == "webhook" and trigger.get("path") == path:
                hooks.append(Hook(workflow_id, version, trigger.get("secret")))
                break
    return hooks


def start_hooks(
    db: Database, queue: Dispatcher, hooks: list[Hook], data: dict[str, Any]
) -> list[str]:
    """One execution per hook, committed, then enqueued; returns their ids."""
    now = utcnow()
    rows = [_row(hook.workflow_id, hook.version, "webhook", data, now, 0) for hook in hooks]
    with session_scope(db) as session:
        session.connection().execute(sa.insert(EXECUTIONS), rows)
    ids = [row["id"] for row in rows]
    dispatch_all(queue, ids)
    return ids
