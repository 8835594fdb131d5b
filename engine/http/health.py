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


def _workflow_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        total, enabled = conn.execute(
            sa.select(sa.func.count(), sa.func.count().filter(W.enabled.is_(True)))
        ).one()
        executing = conn.execute(
            sa.select(sa.func.count()).where(E.status == "RUNNING")
        ).scalar_one()
    return {"total": int(total), "enabled": int(enabled), "executing": int(executing)}


def _ping(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def _database_checks(db: Database) -> tuple[dict[str, Any], dict[str, int] | None]:
    """The ``database`` check and the workflow counts (None when no database answered).

    Only the primary decides ``database``: every write goes there. A configured replica
    gets a ``replica`` sub-check of its own; when it is down the engine is degraded, not
    unhealthy, and the counts come from the primary instead.
    """
    if not db.has_replica:
        try:
            return {"status": "up"}, _workflow_counts(db.read_engine)
        except Exception as exc:  # any failure means down; the detail says which
            return {"status": "down", "error": first_line(exc)}, None
    database: dict[str, Any] = {"status": "up"}
    try:
        _ping(db.engine)
    except Exception as exc:  # any failure means down; the detail says which
        database = {"status": "down", "error": f"primary: {first_line(exc)}"}
    counts: dict[str, int] | None = None
    try:
        counts = _workflow_counts(db.read_engine)
        database["replica"] = {"status": "up"}
    except Exception as exc:  # the replica is down or lost: reads go elsewhere
        database["replica"] = {"status": "degraded", "error": f"replica: {first_line(exc)}"}
        if database["status"] == "up":
            try:
                counts = _workflow_counts(db.engine)
            except Exception as primary_exc:  # answered the ping, then failed
                database.update(status="down", error=f"primary: {first_line(primary_exc)}")
    return database, counts


def health_document(db: Database, queue_probe: Callable[[], object]) -> dict[str, Any]:
    """``{"status", "timestamp", "checks": {"database", "queue", "workflows"}}``; never raises.

    With a read replica configured, ``checks.database.replica`` says whether it answers;
    a replica that does not leaves the status healthy (see ``_database_checks``).
    """
    database, workflows = _database_checks(db)
    healthy = database["status"] == "up"
    try:
        queue_probe()
        queue: dict[str, Any] = {"status": "up"}
    except Exception as exc:  # any failure means down; the detail says which
        healthy = False
        queue = {"status": "down", "error": first_line(exc)}
    return {
        "status": "healthy" if healthy else "unhealthy",
        "timestamp": utcnow().isoformat(),
        "checks": {"database": database, "queue": queue, "workflows": workflows},
    }
