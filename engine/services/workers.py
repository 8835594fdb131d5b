"""Which worker processes are alive, from their heartbeats (see ``engine.queue.heartbeat``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from engine.core_tables import WORKER_HEARTBEAT
from engine.db import Database
from engine.plain_reads.figure_sql import aware_utc as utc
from engine.queue.heartbeat import alive_since

_heartbeats = WORKER_HEARTBEAT


@dataclass(frozen=True)
class WorkerStatus:
    """One worker process as its last heartbeat described it."""

    worker_id: str
    hostname: str
    pid: int
    kind: str
    """``consumer`` (huey_consumer / wfconsole worker) or ``embedded`` (console, serve)."""
    started_at: datetime
    last_seen_at: datetime
    alive: bool
    """Seen within 3 heartbeat intervals."""


def list_workers(db: Database, *, now: datetime, interval: float) -> list[WorkerStatus]:
    """Every worker with a heartbeat row, alive ones first, most recently seen first.

    ``interval`` is ``queue.heartbeat_interval``; the table holds one row per worker
    process, so reading it whole is cheap.
    """
    cutoff = alive_since(utc(now), interval)
    query = sa.select(_heartbeats).order_by(
        _heartbeats.c.last_seen_at.desc(), _heartbeats.c.worker_id
    )
    with db.read_engine.connect() as conn:
        workers = [
            WorkerStatus(
                worker_id=row.worker_id,
                hostname=row.hostname,
                pid=row.pid,
                kind=row.kind,
                started_at=row.started_at,
                last_seen_at=row.last_seen_at,
                alive=row.last_seen_at >= cutoff,
            )
            for row in conn.execute(query)
        ]
    return sorted(workers, key=lambda worker: not worker.alive)
