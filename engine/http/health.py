"""The ``GET /health`` document (``wfconsole health --json`` prints the same)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from engine.db import Database
from engine.models import Workflow, WorkflowExecution, table_of, utcnow


def first_line(exc: BaseException) -> str:
    """A one-line description of an error."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


W = table_of(Workflow).c
E = table_of(WorkflowExecution).c


def _workflow_counts(db: Database) -> dict[str, int]:
    with db.read_engine.connect() as conn:
        total, enabled = conn.execute(
            sa.select(sa.func.count(), sa.func.count().filter(W.enabled.is_(True)))
        ).one()
        executing = conn.execute(
            sa.select(sa.func.count()).where(E.status == "RUNNING")
        ).scalar_one()
    return {"total": int(total), "enabled": int(enabled), "executing": int(executing)}


def health_document(db: Database, queue_probe: Callable[[], object]) -> dict[str, Any]:
    """``{"status", "timestamp", "checks": {"database", "queue", "workflows"}}``; never raises."""
    checks: dict[str, Any] = {}
    healthy = True
    try:
        if db.has_replica:  # the counts come from the replica; writes need the primary
            with db.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        checks["workflows"] = _workflow_counts(db)
        checks["database"] = {"status": "up"}
    except Exception as exc:  # any failure means down; the detail says which
        healthy = False
        checks["database"] = {"status": "down", "error": first_line(exc)}
        checks["workflows"] = None
    try:
        queue_probe()
        checks["queue"] = {"status": "up"}
    except Exception as exc:  # any failure means down; the detail says which
        healthy = False
        checks["queue"] = {"status": "down", "error": first_line(exc)}
    return {
        "status": "healthy" if healthy else "unhealthy",
        "timestamp": utcnow().isoformat(),
        "checks": {"database": checks["database"], "queue": checks["queue"],
                   "workflows": checks["workflows"]},
    }  # fmt: skip
