"""Is the database reachable, is the queue: for the console header and ``/health``."""

from __future__ import annotations

import sqlalchemy as sa

from engine.db import Database, first_line
from engine.plain_reads.health import ComponentHealth as ComponentHealth
from engine.plain_reads.health import HealthReport as HealthReport
from engine.services.metrics import QueueCounter


def _answers(engine: sa.Engine, label: str = "") -> ComponentHealth:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure means down; the detail says which
        return ComponentHealth(False, label + first_line(exc))
    return ComponentHealth(True)


def database_health(db: Database) -> ComponentHealth:
    """Whether the database answers a trivial query: the primary, where every write goes
    (with a replica configured, its detail starts with "primary: ")."""
    if not db.has_replica:
        return _answers(db.read_engine)
    return _answers(db.engine, "primary: ")


def replica_health(db: Database) -> ComponentHealth | None:
    """Whether the read replica answers (None when none is configured). A replica that is
    down degrades the console's lists, not the engine: runs, hooks and writes go on."""
    return _answers(db.read_engine, "replica: ") if db.has_replica else None


def queue_health(queue: QueueCounter) -> ComponentHealth:
    """Whether the queue answers a message count."""
    try:
        queue.pending_count()
    except Exception as exc:  # any failure means down; the detail says which
        return ComponentHealth(False, first_line(exc))
    return ComponentHealth(True)


def check_health(db: Database, queue: QueueCounter) -> HealthReport:
    """The database's and the queue's state; never raises."""
    return HealthReport(
        database=database_health(db), queue=queue_health(queue), replica=replica_health(db)
    )
