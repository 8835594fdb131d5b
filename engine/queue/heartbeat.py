"""Worker heartbeats: every consumer process and embedded worker says it is alive.

A worker process writes its ``worker_heartbeat`` row when its first worker thread starts,
refreshes ``last_seen_at`` every ``queue.heartbeat_interval`` seconds from a daemon
thread, and deletes the row when its last worker thread shuts down cleanly (or, for a
consumer stopped without a graceful signal, when the interpreter exits). A process
killed hard leaves its row behind; readers call a worker alive only while its row was
refreshed within ``ALIVE_INTERVALS`` intervals (see ``engine.services.workers``).

The row's ``worker_id`` (``host:pid:tag``) is also what the process's claims record in
``workflow_executions.worker_id``, so the sweeper can tell which runs a dead worker held
(``dead_workers``). Every process of a deployment should share ``queue.heartbeat_interval``.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from engine.core_tables import WORKER_HEARTBEAT
from engine.db import Database, DatabaseError
from engine.plain_reads.queue_report import ALIVE_INTERVALS

log = logging.getLogger("wfconsole.heartbeat")
# A worker on another host cannot be asked whether its process exists: it counts as dead
# only after this much longer silence (the longer of the two).
REMOTE_DEAD_INTERVALS = 12
REMOTE_DEAD_AFTER = timedelta(seconds=60)
# Rows of workers that vanished without a clean shutdown are dropped after this long.
FORGET_AFTER = timedelta(days=1)
_table = WORKER_HEARTBEAT


def utcnow() -> datetime:
    """Now, aware UTC (the storage convention)."""
    return datetime.now(UTC)


def alive_since(now: datetime, interval: float) -> datetime:
    """The oldest ``last_seen_at`` that still counts as alive at ``now``."""
    return now - timedelta(seconds=ALIVE_INTERVALS * interval)


def pid_space() -> str:
    """Eight hex digits naming this kernel boot and pid namespace ("x" when unknown).

    Two processes with the same value see the same pids, so one can tell for certain that
    the other's process is gone; a container sharing the hostname but not the pids has
    another value (another namespace), and so does another machine (another boot).
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except (OSError, ValueError):
        return "x"
    return hashlib.sha256(f"{boot}:{namespace}".encode()).hexdigest()[:8]


_PID_SPACE = pid_space()


def new_worker_id() -> str:
    """``host:pid:space-tag``: one worker process, as its heartbeat row and its claims name
    it. ``space`` is ``pid_space()``; the random tag tells apart processes that reused a
    pid. The column holds 128 characters."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{_PID_SPACE}-{uuid.uuid4().hex[:8]}"


def gone_for_certain(worker_id: str, hostname: str, pid: int) -> bool:
    """The worker shares this process's kernel boot and pid namespace, and its pid is gone
    (or is a zombie): dead, however recently it beat. False whenever that is not known."""
    parts = worker_id.split(":")
    space = parts[-1].split("-", 1)[0] if len(parts) >= 3 else ""
    return (
        _PID_SPACE != "x"
        and space == _PID_SPACE
        and hostname == socket.gethostname()[:255]
        and not process_exists(pid)
    )


def process_exists(pid: int) -> bool:
    """True while a process with ``pid`` exists on this host and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:
        # "pid (name) S ..." — a killed child its parent has not reaped yet is "Z".
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (not Linux): kill() said it exists
        return True


class DeadWorkers(list[str]):
    """Ids of dead workers; ``certain``: those whose pid is gone in this pid namespace
    (their claims are taken back without waiting for silence)."""

    def __init__(self, ids: list[str], certain: set[str]) -> None:
        super().__init__(ids)
        self.certain = certain


def dead_workers(db: Database, *, interval: float, now: datetime | None = None) -> DeadWorkers:
    """Ids of workers whose process is gone for certain, so their claims may be taken back.

    In this process's kernel boot and pid namespace (``gone_for_certain``): its pid no
    longer exists, however recently it beat. Otherwise on this host: silent for
    ``ALIVE_INTERVALS`` intervals and its pid no longer exists (a slow or frozen process
    keeps its claims however long it is silent; both tests, because another container may
    share the hostname but not the pids). On another host: silent for
    ``REMOTE_DEAD_INTERVALS`` intervals and at least ``REMOTE_DEAD_AFTER``. A worker without
    a row (not beaten yet, or gone after a clean stop) is never called dead here: its
    claims wait for their lease.
    """
    now = now or utcnow()
    remote_cutoff = now - max(
        REMOTE_DEAD_AFTER, timedelta(seconds=REMOTE_DEAD_INTERVALS * interval)
    )
    host = socket.gethostname()[:255]
    silent = _table.c.last_seen_at < alive_since(now, interval)
    query = sa.select(
        _table.c.worker_id,
        _table.c.hostname,
        _table.c.pid,
        silent.label("silent"),
        (_table.c.last_seen_at < remote_cutoff).label("long_silent"),
    ).where(sa.or_(silent, _table.c.hostname == host))
    with db.engine.connect() as conn:  # the primary: a replica may miss a fresh beat
        rows = conn.execute(query).all()
    dead, certain = [], set()
    for row in rows:
        if row.hostname != host:
            gone = bool(row.silent and row.long_silent)
        elif gone_for_certain(row.worker_id, row.hostname, row.pid):
            gone = True
            certain.add(row.worker_id)
        else:
            gone = bool(row.silent) and not process_exists(row.pid)
        if gone:
            dead.append(row.worker_id)
    return DeadWorkers(dead, certain)


def last_beat(db: Database, worker_ids: list[str]) -> datetime | None:
    """The latest ``last_seen_at`` among ``worker_ids`` (None: none has a row)."""
    if not worker_ids:
        return None
    with db.engine.connect() as conn:
        latest = conn.execute(
            sa.select(sa.func.max(_table.c.last_seen_at)).where(_table.c.worker_id.in_(worker_ids))
        ).scalar_one()
    if not isinstance(latest, datetime):
        return None
    return latest if latest.tzinfo is not None else latest.replace(tzinfo=UTC)


def silent_worker(worker_id: sa.ColumnElement[str], *, interval: float,
                  now: datetime) -> sa.ColumnElement[bool]:  # fmt: skip
    """SQL: ``worker_id`` has a heartbeat row that missed ``ALIVE_INTERVALS`` intervals.

    A conditional UPDATE repeats it, so a worker that beat again meanwhile keeps its claims.
    """
    return (
        sa.exists()
        .where(_table.c.worker_id == worker_id, _table.c.last_seen_at < alive_since(now, interval))
        .correlate_except(_table)
    )


def write_beat(db: Database, worker_id: str, *, kind: str, started_at: datetime,
               now: datetime | None = None) -> None:  # fmt: skip
    """Insert or refresh one worker's row."""
    now = now or utcnow()
    with db.engine.begin() as conn:
        updated = conn.execute(
            sa.update(_table).where(_table.c.worker_id == worker_id).values(last_seen_at=now)
        ).rowcount
        if not updated:
            conn.execute(
                sa.insert(_table).values(
                    worker_id=worker_id,
                    hostname=socket.gethostname()[:255],
                    pid=os.getpid(),
                    kind=kind,
                    started_at=started_at,
                    last_seen_at=now,
                )
            )


def remove_beat(db: Database, worker_id: str) -> None:
    """Delete one worker's row (clean shutdown)."""
    with db.engine.begin() as conn:
        conn.execute(sa.delete(_table).where(_table.c.worker_id == worker_id))


def forget_stale(db: Database, *, now: datetime | None = None) -> int:
    """Delete rows of workers unseen for ``FORGET_AFTER``; returns how many."""
    cutoff = (now or utcnow()) - FORGET_AFTER
    with db.engine.begin() as conn:
        return conn.execute(sa.delete(_table).where(_table.c.last_seen_at < cutoff)).rowcount


class Heartbeat:
    """The heartbeat of one worker process, shared by its worker threads.

    Each worker thread calls ``worker_started`` on startup and ``worker_stopped`` on
    shutdown; the first start begins beating, the last stop ends it and removes the row.
    """

    def __init__(self, db: Callable[[], Database], interval: float, *,
                 kind: str = "consumer") -> None:  # fmt: skip
        self._db = db
        self.interval = interval
        self.kind = kind
        self.worker_id: str | None = None
        self._identity: tuple[int, str] | None = None  # (pid, worker id) of this process
        self._users = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._exit_hook = False
        self._row: str | None = None  # the row this process wrote and has not removed yet

    def own_id(self) -> str:
        """This process's worker id: its heartbeat row and its claims carry it.

        Decided on first use in each process, so a forked worker process (``huey_consumer
        -k process``) gets its own, and the parent's id names no claim.
        """
        with self._lock:
            return self._own_id()

    def _own_id(self) -> str:
        if self._identity is None or self._identity[0] != os.getpid():
            self._identity = (os.getpid(), new_worker_id())
        return self._identity[1]

    def worker_started(self) -> None:
        """A worker thread started: begin beating if it is the first."""
        with self._lock:
            self._users += 1
            if self._users > 1:
                return
            self.worker_id = self._own_id()
            self._row = self.worker_id
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._loop,
                args=(self.worker_id, self._stop, utcnow()),
                name="wfconsole-heartbeat",
                daemon=True,
            )
            self._thread.start()
            if not self._exit_hook:
                # A consumer stopped without -g TERM exits before its threads shut down.
                atexit.register(self._at_exit)
                self._exit_hook = True

    def worker_stopped(self) -> None:
        """A worker thread shut down: when it was the last, stop beating and say goodbye."""
        with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users:
                return
        self._say_goodbye()

    def _at_exit(self) -> None:
        # Interpreter exit: daemon worker threads may still be inside worker_stopped and
        # are about to vanish, so remove the row from here whatever they were doing.
        with self._lock:
            self._users = 0
        self._say_goodbye()

    def _say_goodbye(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None:
            thread.join(self.interval + 5)
        with self._lock:
            worker_id = self._row
        if worker_id is None:
            return
        try:
            remove_beat(self._db(), worker_id)
        except Exception:  # the row ages out instead
            log.exception("could not remove heartbeat of %s", worker_id)
            return
        with self._lock:
            if self._row == worker_id:
                self._row = None

    def _loop(self, worker_id: str, stop: threading.Event, started_at: datetime) -> None:
        first = True
        while True:
            if stop.is_set():
                return
            try:
                db = self._db()
                if first:
                    forget_stale(db)
                write_beat(db, worker_id, kind=self.kind, started_at=started_at)
                first = False
            except DatabaseError:  # could not open it: the opener logged the outage once
                log.debug("heartbeat of %s waits for the database", worker_id)
            except Exception:  # keep beating: a database blip must not end the heartbeat
                log.exception("heartbeat of %s failed", worker_id)
            if stop.wait(self.interval):
                return


__all__ = [
    "ALIVE_INTERVALS",
    "DeadWorkers",
    "Heartbeat",
    "alive_since",
    "dead_workers",
    "gone_for_certain",
    "new_worker_id",
    "pid_space",
    "process_exists",
    "remove_beat",
    "silent_worker",
    "write_beat",
]
