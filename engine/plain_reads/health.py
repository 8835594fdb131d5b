"""Health as plain SQL answers it: the ``/health`` document's workflow counts and the
document around the database, queue and count checks (``engine.http.health`` adds the
read replica's sub-check and the redaction for anonymous callers); and what a client
(the console's header) shows: ``HealthReport`` and ``DeploymentInfo``, which the console
fills from the plain reads before the engine has loaded (``engine.services.health`` and
``engine.deployment`` fill them afterwards)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from engine.plain_reads.reader import Reader

QueueKind = Literal["sqlite", "redis"]


@dataclass(frozen=True)
class DeploymentInfo:
    """What a client shows about the deployment it is attached to (no password)."""

    database_url: str
    queue_kind: QueueKind
    queue_location: str
    """The SQLite queue file or the Redis URL (password hidden)."""


@dataclass(frozen=True)
class ComponentHealth:
    """One dependency's state; ``detail`` is the first line of the error when it is down."""

    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class HealthReport:
    """The database's and the queue's state."""

    database: ComponentHealth
    queue: ComponentHealth
    replica: ComponentHealth | None = None
    """The read replica, when one is configured; down means degraded, not unhealthy."""

    @property
    def ok(self) -> bool:
        """True when the primary database and the queue answer."""
        return self.database.ok and self.queue.ok


def first_line(exc: BaseException) -> str:
    """A one-line description of an error."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def workflow_counts(reader: Reader) -> dict[str, int]:
    """How many workflows there are, how many are enabled, how many runs are RUNNING."""
    total, enabled = reader.rows(
        "SELECT count(*), count(CASE WHEN enabled THEN 1 END) FROM workflow"
    )[0]
    executing = reader.value(
        "SELECT count(*) FROM workflow_execution WHERE status = :status", {"status": "RUNNING"}
    )
    return {"total": int(total), "enabled": int(enabled), "executing": int(executing)}


def database_check(reader: Reader) -> tuple[dict[str, Any], dict[str, int] | None]:
    """The ``database`` check and the workflow counts of one database without a replica."""
    try:
        return {"status": "up"}, workflow_counts(reader)
    except Exception as exc:  # any failure means down; the detail says which
        return {"status": "down", "error": first_line(exc)}, None


def health_document(
    database: dict[str, Any], workflows: dict[str, int] | None, queue_probe: Callable[[], object]
) -> dict[str, Any]:
    """``{"status", "timestamp", "checks": {"database", "queue", "workflows"}}``; never
    raises: a queue probe that raises makes the queue check ``down``."""
    healthy = database["status"] == "up"
    try:
        queue_probe()
        queue: dict[str, Any] = {"status": "up"}
    except Exception as exc:  # any failure means down; the detail says which
        healthy = False
        queue = {"status": "down", "error": first_line(exc)}
    return {
        "status": "healthy" if healthy else "unhealthy",
        "timestamp": datetime.now(UTC).isoformat(),
        "checks": {"database": database, "queue": queue, "workflows": workflows},
    }
