"""A failed run to replay, on top of the console seed.

``order-sync`` creates a task (step 0), then POSTs to ``https://erp.example.com/orders/
{{ trigger.order }}`` (step 1). Its run ``FAILED_RUN`` (trigger ``{"order": "o1"}``, the
newest execution of the database) finished step 0 and failed at step 1.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from engine.db import Database, session_scope
from engine.models import Workflow, WorkflowExecution, WorkflowExecutionStep
from engine.services.workflows import save_document
from tests.console.conftest import BASE_TIME, execution_id

WORKFLOW = "order-sync"
FAILED_RUN = execution_id(301)
HOOK = "https://erp.example.com/orders/{{ trigger.order }}"


def definition(url: str = HOOK) -> dict[str, Any]:
    """order-sync's definition, posting to ``url``."""
    return {
        "name": WORKFLOW,
        "triggers": [{"type": "manual"}],
        "actions": [
            {"type": "create_task", "title": "Order {{ trigger.order }}"},
            {
                "type": "webhook",
                "method": "POST",
                "url": url,
                "body": {"id": "{{ trigger.order }}"},
            },
        ],
    }


def seed_replay(db: Database) -> None:
    """order-sync and its failed run."""
    save_document(db, definition(), actor="tester")
    created = BASE_TIME + timedelta(minutes=1)
    with session_scope(db) as session:
        workflow_id = session.exec(select(Workflow.id).where(Workflow.name == WORKFLOW)).one()
        session.add(
            WorkflowExecution(
                id=FAILED_RUN, workflow_id=workflow_id, workflow_version=1, status="FAILED",
                trigger_type="manual", trigger_data={"order": "o1"},
                error="step 1 (webhook): HTTP 503 [@click=app.quit]x[/]", created_at=created,
                started_at=created, completed_at=created + timedelta(seconds=2),
                duration_ms=2000.0, available_at=created, next_step=1,
            )
        )  # fmt: skip
        session.flush()
        session.add_all([
            WorkflowExecutionStep(
                execution_id=FAILED_RUN, step_index=0, action_type="create_task",
                status="SUCCESS", result={"task_id": 41}, attempt=1, started_at=created,
                completed_at=created, duration_ms=12.0,
            ),
            WorkflowExecutionStep(
                execution_id=FAILED_RUN, step_index=1, action_type="webhook", status="FAILED",
                error="HTTP 503", attempt=1, started_at=created, completed_at=created,
                duration_ms=900.0,
            ),
        ])  # fmt: skip


def replays_of(db: Database, original: str) -> list[WorkflowExecution]:
    """The executions created as replays of ``original``."""
    with db.read_session() as session:
        return list(
            session.exec(select(WorkflowExecution).where(WorkflowExecution.replay_of == original))
        )


def steps_of(db: Database, execution: str) -> list[tuple[int, str, str]]:
    """(index, action, status) of an execution's stored steps."""
    with db.read_session() as session:
        rows = session.exec(
            select(WorkflowExecutionStep).where(WorkflowExecutionStep.execution_id == execution)
        ).all()
        return sorted((row.step_index, row.action_type, row.status) for row in rows)
