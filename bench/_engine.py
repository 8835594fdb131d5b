"""Engine-side measurements: the bench workflow, a flat-out producer, a paced producer."""

from __future__ import annotations

import functools
import json
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench._procs import percentile, wait_until
from engine.db import Database
from engine.execution.claims import EXECUTIONS
from engine.execution.claims import E as X
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow

WORKFLOW = "bench-webhook"
FINAL = ("SUCCESS", "FAILED", "CANCELLED", "SKIPPED")


def write_config(
    path: Path,
    *,
    db_url: str,
    redis_url: str,
    queue_path: Path,
    queue_name: str,
    threads: int,
    max_running: int,
) -> Path:
    """The TOML every process of one scenario reads (via $WFCONSOLE_CONFIG)."""
    config: dict[str, dict[str, Any]] = {
        "database": {"url": db_url, "pool_size": max(10, threads + 2)},
        "queue": {
            "redis_url": redis_url,
            "path": str(queue_path),
            "name": queue_name,
            "concurrency": threads,
            "signing_key": "wf-bench-signing-key",
        },
        "workflow": {"max_concurrent_executions": max_running},
        "security": {"allow_private_targets": True},
        "logging": {"level": "WARNING"},
    }
    lines = []
    for section, values in config.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def save_bench_workflow(db: Database, sink_port: int) -> None:
    """One manual trigger, one webhook action POSTing a small templated JSON body."""
    save_document(
        db,
        {
            "name": WORKFLOW,
            "triggers": [{"type": "manual"}],
            "actions": [
                {
                    "type": "webhook",
                    "method": "POST",
                    "url": f"http://127.0.0.1:{sink_port}/hook",
                    "body": {
                        "execution": "{{ execution.id }}",
                        "n": "{{ trigger.n }}",
                        "source": "{{ workflow.name }}",
                    },
                }
            ],
        },
        actor="bench",
    )


def count_final(db: Database, since: datetime | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(EXECUTIONS).where(X.status.in_(FINAL))
    if since is not None:
        query = query.where(X.created_at >= since)
    with db.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _finished(db: Database, since: datetime, count: int) -> bool:
    return count_final(db, since) >= count


def latest_created(db: Database) -> datetime | None:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.max(X.created_at))).scalar_one()


def warm_up(db: Database, queue: Any, count: int, procs: list | None = None) -> None:
    """Run a few executions so imports, connections and caches are hot before timing."""
    base = count_final(db)
    run_workflow(db, queue, WORKFLOW, {"n": -1}, actor="bench", count=count)
    wait_until(lambda: count_final(db) >= base + count, 120, what="warm-up executions", procs=procs)


@dataclass
class Throughput:
    count: int
    seconds: float  # first trigger -> last completion, from the rows' own timestamps
    enqueue_seconds: float  # how long inserting + enqueueing all of them took
    not_success: int
    leftover: int = 0  # messages still queued after the last completion (duplicates)
    leftover_seconds: float = 0.0  # how long the consumers took to drain them
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process group

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("nan")


def measure_throughput(
    db: Database, queue: Any, n: int, batch: int, timeout: float, procs: list | None = None
) -> Throughput:
    """Insert + enqueue ``n`` executions flat out, then wait for all to reach a final state."""
    before = latest_created(db)
    started = time.monotonic()
    sent = 0
    while sent < n:
        size = min(batch, n - sent)
        run_workflow(db, queue, WORKFLOW, {"n": sent}, actor="bench", count=size)
        sent += size
    enqueued = time.monotonic() - started
    first = _first_created_after(db, before)
    wait_until(
        lambda: count_final(db, first) >= n,
        timeout,
        interval=0.1,
        what=f"{n} executions to finish",
        procs=procs,
    )
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.select(
                sa.func.max(X.completed_at), sa.func.count().filter(X.status != "SUCCESS")
            ).where(X.created_at >= first)
        ).one()
    # Duplicate messages (the sweeper re-enqueues rows PENDING for > 30 s) are drained before
    # the next phase so they do not count against its latency; how many there were is kept.
    leftover, drained = queue.huey.pending_count(), time.monotonic()
    wait_until(lambda: queue.huey.pending_count() == 0, timeout, what="queue to drain", procs=procs)
    seconds = (row[0] - first).total_seconds()
    return Throughput(
        n, seconds, enqueued, int(row[1]), leftover, time.monotonic() - drained if leftover else 0
    )


def _first_created_after(db: Database, before: datetime | None) -> datetime:
    query = sa.select(sa.func.min(X.created_at))
    if before is not None:
        query = query.where(X.created_at > before)
    with db.engine.connect() as conn:
        return conn.execute(query).scalar_one()


@dataclass
class Latency:
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    rate: float  # achieved trigger rate (per second)
    # The two halves of enqueue→start (p50, p99 ms): created_at until run_workflow returned
    # (insert, audit row, COMMIT, enqueue), and from then until started_at (queue + claim).
    trigger_ms: tuple[float, float] = (float("nan"), float("nan"))
    pickup_ms: tuple[float, float] = (float("nan"), float("nan"))


def _latencies(db: Database, first: datetime, last: datetime | None = None) -> list[float]:
    query = sa.select(X.created_at, X.started_at).where(X.created_at >= first)
    if last is not None:
        query = query.where(X.created_at <= last)
    with db.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(started - created).total_seconds() * 1000 for created, started in rows if started]


def paced_latency(
    db: Database, queue: Any, rate: float, seconds: float, timeout: float, procs: list | None = None
) -> Latency:
    """Trigger one execution per call at ``rate``/s for ``seconds``; enqueue→start percentiles.

    Producer threads (one per 100/s) keep the pace even when a call takes a few ms.
    """
    before = latest_created(db)
    producers = max(1, math.ceil(rate / 100))
    per_thread = rate / producers
    counts = [0] * producers
    returned: dict[str, datetime] = {}
    start = time.monotonic() + 0.05

    def produce(slot: int) -> None:
        i = 0
        while True:
            due = start + (i + slot / producers) / per_thread
            if due - start >= seconds:
                return
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            [execution_id] = run_workflow(db, queue, WORKFLOW, {"n": i}, actor="bench")
            returned[execution_id] = datetime.now(UTC)
            counts[slot] += 1
            i += 1

    threads = [threading.Thread(target=produce, args=(s,)) for s in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    sent = sum(counts)
    first = _first_created_after(db, before)
    wait_until(
        lambda: count_final(db, first) >= sent, timeout, what="paced executions", procs=procs
    )
    values = _latencies(db, first)
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(X.id, X.created_at, X.started_at).where(X.created_at >= first)
        ).all()
    trigger = [(returned[r.id] - r.created_at).total_seconds() * 1000 for r in rows]
    pickup = [(r.started_at - returned[r.id]).total_seconds() * 1000 for r in rows]
    return Latency(
        len(values),
        percentile(values, 50),
        percentile(values, 99),
        max(values, default=float("nan")),
        sent / elapsed,
        (percentile(trigger, 50), percentile(trigger, 99)),
        (percentile(pickup, 50), percentile(pickup, 99)),
    )


def idle_latency(db: Database, queue: Any, probes: int, idle: float, timeout: float) -> Latency:
    """One execution after each of ``probes`` idle spells of ``idle`` seconds."""
    values = []
    started = time.monotonic()
    for i in range(probes):
        time.sleep(idle)
        before = latest_created(db)
        run_workflow(db, queue, WORKFLOW, {"n": i}, actor="bench")
        first = _first_created_after(db, before)
        wait_until(
            functools.partial(_finished, db, first, 1),
            timeout,
            interval=0.01,
            what="idle probe",
        )
        values += _latencies(db, first)
    elapsed = time.monotonic() - started
    return Latency(
        len(values),
        percentile(values, 50),
        percentile(values, 99),
        max(values, default=float("nan")),
        probes / elapsed,
    )
