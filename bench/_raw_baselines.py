"""Physical baselines of bench/run_all.py: bare PostgreSQL and Redis, nothing of ours.

- ``pg_insert_commits``: one connection looping a single-row INSERT in autocommit (the
  server's own durability settings: each one waits for its WAL flush); commits/s and the
  latency of each.
- ``pg_copy_rows``: rows/s of one ``COPY … FROM STDIN`` of pre-formatted text into an
  unindexed table shaped like the log table (the bulk-write floor).
- ``redis_round_trips``: one connection, no pipelining, PING and LPUSH each in a loop.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import redis

from bench._procs import percentile


@dataclass
class Loop:
    """A timed loop of one operation: how many per second and each one's latency (ms)."""

    per_second: float
    p50_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, float]:
        return {"per_second": self.per_second, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms}


def _loop(operation: Callable[[int], object], seconds: float) -> Loop:
    latencies: list[float] = []
    started = time.perf_counter()
    stop = started + seconds
    n = 0
    while (now := time.perf_counter()) < stop:
        operation(n)
        latencies.append((time.perf_counter() - now) * 1000)
        n += 1
    elapsed = time.perf_counter() - started
    return Loop(n / elapsed, percentile(latencies, 50), percentile(latencies, 99))


def pg_insert_commits(url: str, seconds: float) -> Loop:
    """Single-row INSERTs, each its own synchronous commit, over one connection."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE raw_insert (id bigint PRIMARY KEY, note text)")
        try:
            statement = "INSERT INTO raw_insert VALUES (%s, 'x')"
            return _loop(lambda n: conn.execute(statement, (n,)), seconds)
        finally:
            conn.execute("DROP TABLE raw_insert")


def pg_copy_rows(url: str, rows: int) -> float:
    """Rows/s of one COPY of ``rows`` log-like rows (text format, built beforehand)."""
    stamp = "2026-01-01 00:00:00+00"
    line = "{0}\t" + str(uuid.uuid4()) + "\tINFO\tstep 0 done\t0\t" + stamp + "\n"
    data = "".join(line.format(i) for i in range(rows)).encode()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE raw_copy (id bigint, execution_id varchar(36), level varchar(8),"
            ' message text, step_index int, "timestamp" timestamptz)'
        )
        try:
            started = time.perf_counter()
            with (
                conn.transaction(),
                conn.cursor() as cursor,
                cursor.copy("COPY raw_copy FROM STDIN") as copy,
            ):
                for offset in range(0, len(data), 1 << 20):
                    copy.write(data[offset : offset + (1 << 20)])
            return rows / (time.perf_counter() - started)
        finally:
            conn.execute("DROP TABLE raw_copy")


def redis_round_trips(url: str, seconds: float) -> dict[str, Loop]:
    """PING and LPUSH round trips on one connection, one command at a time."""
    client = redis.Redis.from_url(url)
    key = f"wf-bench-raw-{uuid.uuid4().hex[:8]}"
    try:
        ping = _loop(lambda _n: client.ping(), seconds)
        push = _loop(lambda n: client.lpush(key, n), seconds)
    finally:
        client.delete(key)
        client.close()
    return {"ping": ping, "lpush": push}
