"""Baselines measured in the same run: raw Huey no-op rates and PostgreSQL commit rates."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from bench._noop import local_noop_huey, redis_noop_huey
from bench._procs import Children, CpuMeter, consumer_cmd, percentile, wait_until


@dataclass
class Rate:
    """A raw no-op baseline, measured two ways on the same warm consumers."""

    count: int
    e2e_seconds: float  # first enqueue -> last run, producer enqueueing meanwhile
    enqueue_seconds: float  # how long the producer took to enqueue ``count``
    drain_seconds: float  # ``count`` already queued -> all run (consumer capacity)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the drain

    @property
    def per_second(self) -> float:
        """The consumers' drain rate: what the broker + workers can do at most."""
        return self.count / self.drain_seconds

    @property
    def e2e_per_second(self) -> float:
        return self.count / self.e2e_seconds


def raw_redis_rate(
    children: Children, redis_url: str, n: int, consumers: int, threads: int, tmp: Path
) -> Rate:
    """No-op tasks on a RedisHuey run by ``consumers`` processes: end to end, then drain.

    The drain rate is timed by stopping the consumers (SIGSTOP), enqueueing ``n`` tasks,
    and resuming them (SIGCONT) until all ran.
    """
    name = f"wf-bench-noop-{uuid.uuid4().hex[:8]}"
    huey, noop = redis_noop_huey(redis_url, name)
    counter = redis.Redis.from_url(redis_url)
    key = f"{name}:done"

    def ran(count: int, what: str) -> float:
        return wait_until(
            lambda: int(counter.get(key) or 0) >= count, 300, interval=0.005, what=what, procs=procs
        )

    env = {"BENCH_NOOP_REDIS_URL": redis_url, "BENCH_NOOP_NAME": name}
    procs = [
        children.start(consumer_cmd("bench._noop.huey", threads, tmp / f"noop-{i}.log"), env=env)
        for i in range(consumers)
    ]
    try:
        warm = consumers * threads * 4  # every consumer imported and connected
        for _ in range(warm):
            noop()
        ran(warm, "no-op consumers to start")
        counter.set(key, 0)
        started = time.monotonic()
        for _ in range(n):
            noop()
        enqueued = time.monotonic() - started
        e2e = ran(n, "no-op tasks") - started
        for proc in procs:
            os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(0.2)
        counter.set(key, 0)
        for _ in range(n):
            noop()
        meter = CpuMeter(
            {
                "consumers": lambda: [proc.pid for proc in procs],
                "redis": lambda: [counter.info("server")["process_id"]],
            }
        )
        meter.start()
        resumed = time.monotonic()
        for proc in procs:
            os.kill(proc.pid, signal.SIGCONT)
        drained = ran(n, "queued no-op tasks") - resumed
        return Rate(n, e2e, enqueued, drained, meter.stop())
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
            children.stop(proc)
        huey.flush()
        counter.delete(key)


def raw_sqlite_rate(n: int, threads: int, tmp: Path, poll: float) -> Rate:
    """Same on a SqliteHuey file with in-process consumers polling every ``poll`` seconds."""
    huey, noop, done = local_noop_huey(str(tmp / "noop-queue.db"), "noop")

    def run_consumer():
        consumer = huey.create_consumer(
            workers=threads,
            worker_type="thread",
            initial_delay=poll,
            backoff=1.0,
            max_delay=poll,
            check_worker_health=False,
        )
        consumer.scheduler.start()
        for _, worker in consumer.worker_threads:
            worker.start()
        return consumer

    def stop(consumer) -> None:
        consumer.stop_flag.set()
        for _, worker in consumer.worker_threads:
            worker.join(10)
        consumer.scheduler.join(10)

    def ran(count: int) -> float:
        return wait_until(lambda: done() >= count, 300, interval=0.005, what="sqlite no-ops")

    consumer = run_consumer()
    try:
        noop()
        ran(1)
        base = done()
        started = time.monotonic()
        for _ in range(n):
            noop()
        enqueued = time.monotonic() - started
        e2e = ran(base + n) - started
    finally:
        stop(consumer)
    base = done()
    for _ in range(n):
        noop()
    meter = CpuMeter({"bench": lambda: [os.getpid()]})
    meter.start()
    resumed = time.monotonic()
    consumer = run_consumer()
    try:
        drained = ran(base + n) - resumed
        return Rate(n, e2e, enqueued, drained, meter.stop())
    finally:
        stop(consumer)


@dataclass
class CommitRate:
    transactions_per_second: float  # INSERT + UPDATE + UPDATE, each its own commit
    commit_p50_ms: float
    commit_p99_ms: float


def pg_commit_rate(
    url: str, connections: int = 2, seconds: float = 3.0, synchronous_commit: str = "on"
) -> CommitRate:
    """``connections`` threads each loop INSERT; UPDATE; UPDATE as three autocommit statements."""
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_commit (id text PRIMARY KEY, status text, n int)"
        )
    counts = [0] * connections
    latencies: list[list[float]] = [[] for _ in range(connections)]
    stop_at = time.monotonic() + seconds

    def loop(slot: int) -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"SET synchronous_commit = {synchronous_commit}")
            while time.monotonic() < stop_at:
                row = uuid.uuid4().hex
                for statement in (
                    "INSERT INTO bench_commit VALUES (%s, 'PENDING', 0)",
                    "UPDATE bench_commit SET status = 'RUNNING' WHERE id = %s",
                    "UPDATE bench_commit SET status = 'SUCCESS', n = n + 1 WHERE id = %s",
                ):
                    t = time.perf_counter()
                    conn.execute(statement, (row,))
                    latencies[slot].append((time.perf_counter() - t) * 1000)
                counts[slot] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_commit")
    every = [v for per in latencies for v in per]
    return CommitRate(sum(counts) / elapsed, percentile(every, 50), percentile(every, 99))
