"""Rows for the alert tests: workflows and finished executions at known times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from engine.config import Settings
from engine.db import Database, session_scope
from engine.models import Workflow, WorkflowExecution, table_of
from engine.services.workflows import save_document

NOW = datetime(2024, 5, 1, 12, 30, 20, tzinfo=UTC)
_numbers = count(1)


def alert_settings(**alerts: Any) -> Settings:
    """Default settings with the alerts section overridden."""
    return Settings.model_validate({"alerts": alerts})


def workflow(
    db: Database,
    name: str,
    triggers: list[dict[str, Any]] | None = None,
    *,
    enabled: bool = True,
    saved_at: datetime | None = None,
) -> str:
    """Save a workflow; ``saved_at`` backdates its ``updated_at``. Returns its id."""
    document = {
        "name": name,
        "enabled": enabled,
        "triggers": triggers or [{"type": "manual"}],
        "actions": [{"type": "create_task", "title": "t"}],
    }
    save_document(db, document, actor="tester")
    with session_scope(db) as session:
        row = session.exec(select(Workflow).where(Workflow.name == name)).one()
        if saved_at is not None:
            row.updated_at = saved_at
        return row.id


def runs(
    db: Database,
    workflow_id: str,
    status: str,
    number: int,
    *,
    completed: datetime = NOW - timedelta(minutes=1),
    trigger_type: str = "manual",
    created: datetime | None = None,
) -> None:
    """``number`` executions in ``status``, finished at ``completed``."""
    final = status not in ("PENDING", "RUNNING")
    with session_scope(db) as session:
        for _ in range(number):
            start = created or completed - timedelta(seconds=1)
            session.add(WorkflowExecution(
                id=f"00000000-0000-7000-8000-{next(_numbers):012d}", workflow_id=workflow_id,
                status=status, trigger_type=trigger_type, created_at=start,
                completed_at=completed if final else None, duration_ms=1000.0 if final else None,
                available_at=start,
            ))  # fmt: skip


def open_rows(db: Database) -> list[tuple[str, str]]:
    """(rule, subject) of every open incident."""
    from engine.alerts.models import AlertEvent

    events = table_of(AlertEvent)
    query = sa.select(events.c.rule, events.c.subject).where(events.c.resolved_at.is_(None))
    with db.engine.connect() as conn:
        return sorted((rule, subject) for rule, subject in conn.execute(query))
