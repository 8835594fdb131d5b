"""Load around the console benchmark: a writer of finished runs and a real terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from datetime import timedelta
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa

from engine.db import Database
from engine.models import WorkflowExecution, new_id, table_of, utcnow

BATCH_EVERY = 0.1  # seconds


def finished_run(workflow_id: str) -> dict[str, object]:
    """One SUCCESS execution created now, as a row for a Core insert."""
    now = utcnow()
    return {
        "id": new_id(),
        "workflow_id": workflow_id,
        "workflow_version": 1,
        "status": "SUCCESS",
        "trigger_type": "event",
        "trigger_data": {},
        "created_at": now,
        "started_at": now,
        "completed_at": now + timedelta(milliseconds=5),
        "duration_ms": 5.0,
        "available_at": now,
        "retry_count": 0,
        "cancel_requested": False,
        "event_depth": 0,
        "next_step": 0,
    }


def any_workflow_id(db: Database) -> str:
    with db.engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT id FROM workflow LIMIT 1")).scalar_one())


def delete_executions(db: Database, ids: list[str]) -> None:
    table = table_of(WorkflowExecution)
    with db.engine.begin() as conn:
        for start in range(0, len(ids), 5000):
            conn.execute(sa.delete(table).where(table.c.id.in_(ids[start : start + 5000])))


class NewestRunWriter:
    """Adds one newest execution on demand (for timing a refresh that has news to show)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.ids: list[str] = []
        self.workflow_id = any_workflow_id(db)

    def __enter__(self) -> NewestRunWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        delete_executions(self.db, self.ids)

    def add(self) -> str:
        row = finished_run(self.workflow_id)
        with self.db.engine.begin() as conn:
            conn.execute(sa.insert(table_of(WorkflowExecution)), [row])
        self.ids.append(str(row["id"]))
        return str(row["id"])


class FinishedRunWriter:
    """Inserts finished executions at ``per_second`` in a thread; removes them on exit."""

    def __init__(self, db: Database, *, per_second: int) -> None:
        self.db = db
        self.per_batch = max(1, round(per_second * BATCH_EVERY))
        self.ids: list[str] = []
        self.written = 0
        self.rate = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-writer", daemon=True)

    def __enter__(self) -> FinishedRunWriter:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        delete_executions(self.db, self.ids)

    def _run(self) -> None:
        table = table_of(WorkflowExecution)
        workflow_id = any_workflow_id(self.db)
        started = time.perf_counter()
        tick = started
        while not self._stop.is_set():
            rows = [finished_run(workflow_id) for _ in range(self.per_batch)]
            self.ids.extend(str(row["id"]) for row in rows)
            with self.db.engine.begin() as conn:
                conn.execute(sa.insert(table), rows)
            self.written += len(rows)
            tick += BATCH_EVERY
            self._stop.wait(max(0.0, tick - time.perf_counter()))
        self.rate = self.written / (time.perf_counter() - started)


def process_start_to_rows(url: str, *, runs: int) -> list[float]:
    """Milliseconds from spawning ``wfconsole`` on a 120x36 terminal to a row's status drawn."""
    command = shutil.which("wfconsole", path=str(Path(sys.executable).parent))
    if command is None:
        raise RuntimeError("the wfconsole script is not installed beside this Python")
    samples: list[float] = []
    for _ in range(runs):
        samples.append(_one_start(command, url))
    return samples


def _one_start(command: str, url: str) -> float:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    env = dict(os.environ, DATABASE_URL=url, TERM="xterm-256color", COLUMNS="120", LINES="36")
    env["WFCONSOLE_QUEUE__EMBEDDED_WORKER"] = "false"
    started = time.perf_counter()
    process = subprocess.Popen(
        [command, "--user", "bench"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        start_new_session=True,
    )
    os.close(follower)
    seen = b""
    try:
        deadline = started + 30
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(leader, 65536)
                except OSError:
                    break
                if b"SUCCESS" in seen or b"FAILED" in seen:
                    return (time.perf_counter() - started) * 1000
        tail = seen[-400:].decode(errors="replace")
        raise TimeoutError(f"wfconsole showed no execution row within 30 s; it wrote: {tail!r}")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        os.close(leader)
