"""Failed executions with steps on top of the console seed, and a fixed clock for the window.

Clusters in the last 24 h before ``NOW`` (biggest first, then latest first):

- invoice-alert · create_task · HTTP 503 … — executions 101, 102, 103 (transient)
- nightly-report · create_task · HTTP 404 … — 104, 105 (permanent)
- the hostile workflow · slack · the hostile error — seeded execution 2 (permanent)
- invoice-alert · slack · SMTP timeout — seeded 8 (transient)
- nightly-report · slack · SMTP timeout — seeded 14 (transient)

Execution 106 (another HTTP 503 of invoice-alert) is two days old: only the 7 d window has it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from engine.db import Database, session_scope
from engine.models import Workflow, WorkflowExecution, WorkflowExecutionStep
from tests.console.conftest import BASE_TIME, execution_id

NOW = BASE_TIME + timedelta(minutes=30)
CLUSTER_503 = [execution_id(n) for n in (101, 102, 103)]
CLUSTER_404 = [execution_id(n) for n in (104, 105)]
OLD_503 = execution_id(106)


def error_503(number: int) -> str:
    return (
        f"step 1 (create_task): HTTP 503 from https://tasks.example.com/api/tasks?id={number}"
        f" after 4 attempt(s)"
    )


def error_404(number: int) -> str:
    return f"step 1 (create_task): HTTP 404 from https://tasks.example.com/api/v2/{number}"


def add_failure(db: Database, workflow: str, number: int, minutes_ago: float, error: str) -> None:
    """A FAILED execution that finished its slack step and failed at create_task."""
    created = BASE_TIME - timedelta(minutes=minutes_ago)
    with session_scope(db) as session:
        workflow_id = session.exec(select(Workflow.id).where(Workflow.name == workflow)).one()
        session.add(
            WorkflowExecution(
                id=execution_id(number), workflow_id=workflow_id, status="FAILED",
                trigger_type="event", trigger_data={"n": number}, error=error,
                created_at=created, started_at=created,
                completed_at=created + timedelta(seconds=3), duration_ms=3000.0,
                retry_count=3, available_at=created, next_step=1, worker_id="worker-1",
            )
        )  # fmt: skip
        session.flush()
        session.add_all(
            [
                WorkflowExecutionStep(
                    execution_id=execution_id(number), step_index=0, action_type="slack",
                    status="SUCCESS", result={"ok": True}, started_at=created,
                    completed_at=created, duration_ms=100.0,
                ),
                WorkflowExecutionStep(
                    execution_id=execution_id(number), step_index=1, action_type="create_task",
                    status="FAILED", error=error, attempt=3, started_at=created,
                    completed_at=created, duration_ms=2000.0,
                ),
            ]
        )  # fmt: skip


def seed_failures(db: Database) -> None:
    """The failures of the module docstring."""
    for number, minutes in ((101, 5), (102, 15), (103, 25)):
        add_failure(db, "invoice-alert", number, minutes, error_503(number))
    for number, minutes in ((104, 40), (105, 50)):
        add_failure(db, "nightly-report", number, minutes, error_404(number))
    add_failure(db, "invoice-alert", 106, 2 * 24 * 60, error_503(106))


def use_failures(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Add the failures above and set the failures screen's clock to NOW."""
    seed_failures(db)
    monkeypatch.setattr("wfconsole.console.screens.failures.utcnow", lambda: NOW)
