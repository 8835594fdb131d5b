"""``wfconsole maintenance queue``'s report: its database figures in plain SQL, and the
report's types.

``engine.services.queue_tools.inspect_queue`` (the console, the CLI's full path) runs
``execution_figures`` through ``Reader.of_engine`` and the command's plain read through the
driver alone, so both count with the one query. What a stale lease or lock is, and why,
is told in ``engine.services.queue_tools``.

The queue's side differs: the plain read counts the local queue file's messages itself
(``local_queue.py``) and only looks whether it holds a lock (``local_queue_holds_locks``).
A lock's value is read through the queue's signed serializer, which comes with Huey —
importing Huey (with the Redis and psycopg clients it loads) costs more than the whole
plain read — so a queue holding a lock, which no built-in task takes, goes the full way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.plain_reads.figure_sql import aware_utc
from engine.plain_reads.reader import Reader, stored_time, utc
from engine.statuses import ExecutionStatus

LISTED_LEASES = 1000
"""At most this many stale leases are listed (and released by one flush)."""
ALIVE_INTERVALS = 3
"""A worker is alive while its heartbeat is younger than this many intervals (the one
value: ``engine.queue.heartbeat`` takes it from here)."""
DEFAULT_HEARTBEAT_INTERVAL = 5.0
"""``queue.heartbeat_interval``'s default, as ``engine.config.QueueSettings`` has it (a
test keeps the two equal). A configured interval sends the plain read the full way."""
PENDING, RUNNING = ExecutionStatus.PENDING.value, ExecutionStatus.RUNNING.value


@dataclass(frozen=True)
class HeldLock:
    """A lock present in the queue's store (``engine.queue.locks``)."""

    name: str
    """The name given to ``lock_task`` / ``hold_lock``."""
    key: str
    owner: str | None
    """The holder's worker id; None for a plain Huey lock (or a value we cannot read)."""
    raw: bytes
    """The stored value, so a release can check nobody took the lock since."""


@dataclass(frozen=True)
class StaleLease:
    """A RUNNING execution past its lease whose worker does not beat."""

    execution_id: str
    workflow: str
    worker_id: str | None
    lease_until: datetime


@dataclass(frozen=True)
class QueueLock:
    """A Huey lock and whether a flush would release it."""

    lock: HeldLock
    stale: bool

    @property
    def name(self) -> str:
        """The lock's name."""
        return self.lock.name


@dataclass(frozen=True)
class QueueReport:
    """The queue and the executions waiting on it, as the maintenance screen shows them."""

    taken_at: datetime
    queued: int | None
    """Messages waiting in the queue (None when the queue did not answer)."""
    scheduled: int | None
    """Messages scheduled for later: delayed retries and re-checks. (A worker moves a delayed
    message here when it reads it; until then it counts as queued.)"""
    queue_error: str | None
    pending_due: int
    """PENDING executions due now."""
    pending_later: int
    """PENDING executions waiting for their retry delay."""
    running: int
    running_expired: int
    """RUNNING past their lease (the sweeper takes these back, whoever holds them)."""
    held_by_dead: int
    """RUNNING, lease not ended yet, held by a worker that does not beat."""
    workers_alive: int
    workers_dead: int
    stale_leases: list[StaleLease] = field(default_factory=list)
    """The oldest ``LISTED_LEASES`` stale leases (``stale_lease_total`` counts them all)."""
    locks: list[QueueLock] = field(default_factory=list)
    stale_lease_total: int | None = None
    """Every stale lease, listed or not (None: not counted, as in reports built by hand)."""

    @property
    def unlisted_leases(self) -> int:
        """Stale leases beyond the listed ones (a flush releases the listed ones only)."""
        if self.stale_lease_total is None:
            return 0
        return max(0, self.stale_lease_total - len(self.stale_leases))

    @property
    def stale_locks(self) -> list[QueueLock]:
        """The Huey locks a flush would release."""
        return [lock for lock in self.locks if lock.stale]

    @property
    def nothing_stale(self) -> bool:
        """True when a flush would release nothing."""
        return not self.stale_leases and not self.stale_locks


@dataclass(frozen=True)
class ExecutionFigures:
    """The database's side of a ``QueueReport``."""

    taken_at: datetime
    pending_due: int
    pending_later: int
    running: int
    running_expired: int
    held_by_dead: int
    alive: frozenset[str]
    """The worker id of every process that beats."""
    workers_dead: int
    stale_leases: list[StaleLease]
    stale_lease_total: int


def process_of(worker_id: str) -> str:
    """``host:pid`` of a heartbeat's worker id (``host:pid:tag``), as older claims recorded it."""
    return worker_id.rsplit(":", 1)[0]


def held_by(alive: set[str] | frozenset[str]) -> set[str]:
    """What claims and locks of live workers carry: their worker id, or (older) ``host:pid``."""
    return set(alive) | {process_of(worker_id) for worker_id in alive}


def lock_key_prefix(queue_name: str) -> str:
    """The key prefix of every lock of the queue ``queue_name`` (Huey's own template)."""
    return f"{queue_name}.lock."


def worker_liveness(reader: Reader, *, now: datetime, interval: float) -> tuple[set[str], int]:
    """The worker id of every process that beats, and how many heartbeat rows went quiet
    (of processes none of whose rows beats). ``interval``: ``queue.heartbeat_interval``."""
    cutoff = aware_utc(now) - timedelta(seconds=ALIVE_INTERVALS * interval)
    beats = reader.rows("SELECT worker_id, last_seen_at FROM worker_heartbeat")
    rows = [(worker_id, _seen_since(seen, cutoff)) for worker_id, seen in beats]
    alive = {worker_id for worker_id, beating in rows if beating}
    processes = {process_of(worker_id) for worker_id in alive}
    dead = sum(
        1 for worker_id, beating in rows if not beating and process_of(worker_id) not in processes
    )
    return alive, dead


def _seen_since(seen: datetime | str | None, cutoff: datetime) -> bool:
    last_seen = utc(seen)
    return last_seen is not None and last_seen >= cutoff


def _not_alive(alive: set[str], column: str) -> tuple[str, dict[str, str]]:
    """SQL true when ``column`` (a claim's worker id) names no live worker, and its values."""
    holders = sorted(held_by(alive))
    if not holders:
        return "(1 = 1)", {}
    names = [f"holder_{index}" for index in range(len(holders))]
    listed = ", ".join(f":{name}" for name in names)
    return f"({column} IS NULL OR {column} NOT IN ({listed}))", dict(
        zip(names, holders, strict=True)
    )


def execution_figures(
    reader: Reader, *, now: datetime, heartbeat_interval: float
) -> ExecutionFigures:
    """PENDING/RUNNING counts, workers, and the stale leases (oldest first) at ``now``
    (aware: SQLite's stored text is UTC)."""
    alive, dead = worker_liveness(reader, now=now, interval=heartbeat_interval)
    not_alive, holders = _not_alive(alive, "worker_id")
    params = {"now": stored_time(aware_utc(now), reader.dialect), **holders}
    params.update(pending=PENDING, running=RUNNING)
    expired = "status = :running AND lease_until < :now"
    due, later, running, past_lease, held_by_dead, stale_total = reader.rows(
        "SELECT count(CASE WHEN status = :pending AND available_at <= :now THEN 1 END),"
        " count(CASE WHEN status = :pending AND available_at > :now THEN 1 END),"
        " count(CASE WHEN status = :running THEN 1 END),"
        f" count(CASE WHEN {expired} THEN 1 END),"
        " count(CASE WHEN status = :running AND lease_until >= :now"
        f" AND {not_alive} THEN 1 END),"
        f" count(CASE WHEN {expired} AND {not_alive} THEN 1 END)"
        " FROM workflow_execution WHERE status IN (:pending, :running)",
        params,
    )[0]
    stale_of_e, _ = _not_alive(alive, "e.worker_id")
    listed = reader.rows(
        "SELECT e.id, w.name, e.worker_id, e.lease_until FROM workflow_execution e"
        " JOIN workflow w ON w.id = e.workflow_id"
        f" WHERE e.status = :running AND e.lease_until < :now AND {stale_of_e}"
        " ORDER BY e.lease_until, e.id LIMIT :listed",
        {**params, "listed": LISTED_LEASES},
    )
    leases = [_stale_lease(row) for row in listed]
    return ExecutionFigures(
        taken_at=now, pending_due=int(due), pending_later=int(later), running=int(running),
        running_expired=int(past_lease), held_by_dead=int(held_by_dead),
        alive=frozenset(alive), workers_dead=dead, stale_leases=leases,
        stale_lease_total=int(stale_total),
    )  # fmt: skip


def _stale_lease(row: Sequence[Any]) -> StaleLease:
    lease_until = utc(row[3])
    assert lease_until is not None  # the query asks lease_until < now
    return StaleLease(row[0], row[1], row[2], lease_until)


def lock_is_stale(lock: HeldLock, alive: set[str] | frozenset[str]) -> bool:
    """Whether a flush would release ``lock``: its holder does not beat, or it names no
    holder and no worker at all beats."""
    return lock.owner not in held_by(alive) if lock.owner is not None else not alive


def queue_report(
    figures: ExecutionFigures,
    *,
    queued: int | None,
    scheduled: int | None,
    queue_error: str | None = None,
    locks: list[HeldLock] | None = None,
) -> QueueReport:
    """The report of the database's figures and the queue's counts and locks."""
    return QueueReport(
        taken_at=figures.taken_at, queued=queued, scheduled=scheduled,
        queue_error=queue_error, pending_due=figures.pending_due,
        pending_later=figures.pending_later, running=figures.running,
        running_expired=figures.running_expired, held_by_dead=figures.held_by_dead,
        workers_alive=len(figures.alive), workers_dead=figures.workers_dead,
        stale_leases=figures.stale_leases,
        locks=[QueueLock(lock, lock_is_stale(lock, figures.alive)) for lock in locks or []],
        stale_lease_total=figures.stale_lease_total,
    )  # fmt: skip


def local_queue_holds_locks(path: Path, name: str) -> bool:
    """Whether the SqliteHuey file at ``path`` holds a lock of the queue ``name`` (a key
    of Huey's ``kv`` table under ``lock_key_prefix``). A file or table not created yet
    holds none."""
    if not path.exists():
        return False
    prefix = lock_key_prefix(name)
    conn = sqlite3.connect(path, timeout=5)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'kv'").fetchone() is None:
            return False
        found = conn.execute(
            "SELECT 1 FROM kv WHERE queue = ? AND substr(key, 1, ?) = ? LIMIT 1",
            (name, len(prefix), prefix),
        ).fetchone()
    finally:
        conn.close()
    return found is not None
