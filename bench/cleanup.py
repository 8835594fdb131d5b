"""Retention cleanup at a million executions on PostgreSQL: rows/s against a bare DELETE.

Works on two copies of bench/console.py's seeded database (``wf_bench_console``; run that
first, or pass --seed): one cleaned by the engine (batches of --batch-size, each its own
transaction, progress per batch), one by two bare DELETE statements in one transaction
(the physical floor: same rows, same cascades, but one long lock). The demo history
spans the past week, so the default cut-off of 3 days removes about half of it.

    .venv/bin/python bench/cleanup.py [--days 3] [--batch-size 5000] [--seed]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.console import BENCH_DB, _settings, ensure_seeded
from engine.db import connect_database
from engine.maintenance.cleanup import FINISHED, cutoffs, plan_cleanup, run_cleanup

COPIES = ("wf_bench_cleanup_engine", "wf_bench_cleanup_raw")


def copy_database(admin: psycopg.Connection[object], name: str) -> None:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(BENCH_DB)
        )
    )


def url_of(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + name


def raw_delete(url: str, days: int) -> tuple[int, float]:
    """The same deletion as two statements in one transaction; (rows, seconds)."""
    logs_before, executions_before = cutoffs(logs_days=days, executions_days=days)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        logs = conn.execute(
            "DELETE FROM workflow_execution_log WHERE timestamp < %s", (logs_before,)
        ).rowcount
        counted = conn.execute(
            "SELECT (SELECT count(*) FROM workflow_execution_step s JOIN workflow_execution e"
            " ON e.id = s.execution_id WHERE e.status = ANY(%s) AND e.created_at < %s)",
            (list(FINISHED), executions_before),
        ).fetchone()
        executions = conn.execute(
            "DELETE FROM workflow_execution WHERE status = ANY(%s) AND created_at < %s",
            (list(FINISHED), executions_before),
        ).rowcount
    seconds = time.perf_counter() - started
    steps = int(counted[0]) if counted else 0
    return logs + executions + steps, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--seed", action="store_true", help="seed wf_bench_console first")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.seed:
        ensure_seeded(args.admin_url, 1_000_000, reseed=False)
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        for name in COPIES:
            copy_database(admin, name)
    try:
        db = connect_database(_settings(url_of(args.admin_url, COPIES[0])))
        try:
            started = time.perf_counter()
            plan = plan_cleanup(db, logs_days=args.days, executions_days=args.days)
            plan_seconds = time.perf_counter() - started
            batch_times: list[float] = []
            last = [time.perf_counter()]

            def progress(what: str, done: int, total: int) -> None:
                now = time.perf_counter()
                batch_times.append(now - last[0])
                last[0] = now

            result = run_cleanup(
                db,
                logs_days=args.days,
                executions_days=args.days,
                actor="bench",
                batch_size=args.batch_size,
                plan=plan,
                progress=progress,
            )
        finally:
            db.dispose()
        raw_rows, raw_seconds = raw_delete(url_of(args.admin_url, COPIES[1]), args.days)
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as admin:
            for name in COPIES:
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                admin.execute(drop.format(sql.Identifier(name)))
    rate, raw_rate = plan.rows / result.seconds, raw_rows / raw_seconds
    longest = max(batch_times) * 1000 if batch_times else 0.0
    print(f"dry-run counts   {plan_seconds:6.2f} s  ({plan.rows:,} rows in 4 tables)")
    print(
        f"engine cleanup   {result.seconds:6.2f} s  {rate:>9,.0f} rows/s  {result.batches} batches,"
        f" longest batch {longest:.0f} ms"
    )
    print(f"bare DELETE      {raw_seconds:6.2f} s  {raw_rate:>9,.0f} rows/s  one transaction")
    print(f"ratio            {rate / raw_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
