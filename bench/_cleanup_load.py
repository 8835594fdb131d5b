"""The live side of the cleanup benchmark: a steady stream of runs and what workers waited.

``Stream`` triggers one run of a two-step webhook workflow at a fixed rate from a thread
while consumers execute them. The workers' waits are read back from the rows they wrote:

- claim wait: ``started_at - created_at`` (trigger committed and enqueued → claimed);
- commit wait: step 1's ``started_at`` - step 0's ``completed_at`` (an execution's next
  step starts only after the round that records the previous one has committed).

``LockWaits`` samples ``pg_stat_activity`` every 50 ms for backends of the database
waiting on a lock, so a wait behind the cleanup would show even where the rows cannot.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from bench._procs import percentile
from engine.db import Database
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow

WORKFLOW = "bench-cleanup-stream"


def save_stream_workflow(db: Database, sink_port: int) -> None:
    """Two webhook steps to the sink, so every run has a commit between its steps."""
    step = {"type": "webhook", "method": "POST", "url": f"http://127.0.0.1:{sink_port}/hook",
            "body": {"execution": "{{ execution.id }}"}}  # fmt: skip
    save_document(
        db,
        {"name": WORKFLOW, "triggers": [{"type": "manual"}], "actions": [step, dict(step)]},
        actor="bench",
    )


class Stream:
    """Triggers ``rate`` runs per second from a thread until ``stop``."""

    def __init__(self, db: Database, queue: Any, rate: float) -> None:
        self.db, self.queue, self.rate = db, queue, rate
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-stream", daemon=True)

    def start(self) -> Stream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            delay = started + self.sent / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            run_workflow(self.db, self.queue, WORKFLOW, {"n": self.sent}, actor="bench")
            self.sent += 1


class LockWaits:
    """The longest lock wait seen in the database, sampled every ``interval`` seconds."""

    def __init__(self, url: str, interval: float = 0.05) -> None:
        self.url, self.interval = url, interval
        self.longest_ms = 0.0
        self.waiting_samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-locks", daemon=True)

    def __enter__(self) -> LockWaits:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(self.interval):
                row = conn.execute(
                    "SELECT count(*), max(extract(epoch FROM clock_timestamp() - state_change))"
                    " FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                ).fetchone()
                if row and row[0]:
                    self.waiting_samples += 1
                    self.longest_ms = max(self.longest_ms, float(row[1]) * 1000)


@dataclass
class Waits:
    """Claim and commit waits (ms) of the stream runs created in one time window."""

    runs: int
    claim: list[float]
    commit: list[float]

    def summary(self) -> dict[str, float]:
        return {
            "runs": self.runs,
            "claim_p50_ms": percentile(self.claim, 50),
            "claim_p99_ms": percentile(self.claim, 99),
            "claim_max_ms": max(self.claim, default=float("nan")),
            "commit_p50_ms": percentile(self.commit, 50),
            "commit_p99_ms": percentile(self.commit, 99),
            "commit_max_ms": max(self.commit, default=float("nan")),
        }


_WAITS = """
SELECT extract(epoch FROM e.started_at - e.created_at) * 1000,
       extract(epoch FROM s1.started_at - s0.completed_at) * 1000
FROM workflow_execution e JOIN workflow w ON w.id = e.workflow_id AND w.name = %s
LEFT JOIN workflow_execution_step s0 ON s0.execution_id = e.id AND s0.step_index = 0
LEFT JOIN workflow_execution_step s1 ON s1.execution_id = e.id AND s1.step_index = 1
WHERE e.created_at >= %s AND e.created_at < %s
"""


def waits(url: str, since: datetime, until: datetime) -> Waits:
    """The waits of stream runs created in [since, until)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(_WAITS, (WORKFLOW, since, until)).fetchall()
    claim = [float(row[0]) for row in rows if row[0] is not None]
    commit = [float(row[1]) for row in rows if row[1] is not None]
    return Waits(len(rows), claim, commit)


def stream_outcome(url: str) -> dict[str, int]:
    """Stream runs per status."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT e.status, count(*) FROM workflow_execution e JOIN workflow w"
            " ON w.id = e.workflow_id AND w.name = %s GROUP BY e.status",
            (WORKFLOW,),
        ).fetchall()
    return {str(status): int(count) for status, count in rows}
