"""Worker heartbeats: every consumer process and embedded worker says it is alive.

A worker process writes its ``worker_heartbeat`` row when its first worker thread starts,
refreshes ``last_seen_at`` every ``queue.heartbeat_interval`` seconds from a daemon
thread, and deletes the row when its last worker thread shuts down cleanly (or, for a
consumer stopped without a graceful signal, when the interpreter exits). A process
killed hard leaves its row behind; readers call a worker alive only while its row was
refreshed within ``ALIVE_INTERVALS`` intervals (see ``engine.services.workers``).
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from engine.db import Database
from engine.models import WorkerHeartbeat, table_of, utcnow

log = logging.getLogger("wfconsole.heartbeat")
ALIVE_INTERVALS = 3
# Rows of workers that vanished without a clean shutdown are dropped after this long.
FORGET_AFTER = timedelta(days=1)
_table = table_of(WorkerHeartbeat)


def alive_since(now: datetime, interval: float) -> datetime:
    """The oldest ``last_seen_at`` that still counts as alive at ``now``."""
    return now - timedelta(seconds=ALIVE_INTERVALS * interval)


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
        self._users = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._exit_hook = False
        self._row: str | None = None  # the row this process wrote and has not removed yet

    def worker_started(self) -> None:
        """A worker thread started: begin beating if it is the first."""
        with self._lock:
            self._users += 1
            if self._users > 1:
                return
            # Decided here, not in __init__: a forked worker process gets its own id.
            self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
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
            except Exception:  # keep beating: a database blip must not end the heartbeat
                log.exception("heartbeat of %s failed", worker_id)
            if stop.wait(self.interval):
                return


__all__ = ["ALIVE_INTERVALS", "Heartbeat", "alive_since", "remove_beat", "write_beat"]
