"""What ``wfconsole stats`` and one ``GET /metrics`` scrape cost at a million executions.

Seeds ``wf_stats_bench`` on PostgreSQL with ``wfconsole demo``'s generator (a week of
history), vacuums it so index-only scans apply, prints each statistics query's median
time (and the plan of the daily aggregate), then drops the database unless ``--keep``;
``--reuse`` skips seeding when it already exists.

    .venv/bin/python bench/stats_queries.py [--executions 1000000] [--samples 5]
        [--reuse] [--keep] [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.config import Settings
from engine.db import connect_database, upgrade
from engine.demo import seed_demo
from engine.services import statistics as stats
from engine.services.stats_report import collect_statistics

BENCH_DB = "wf_stats_bench"


class IdleQueue:
    """The queue side is one LLEN per count on Redis; left out of the figures."""

    def pending_count(self) -> int:
        return 0

    def scheduled_count(self) -> int:
        return 0


def _prepare(admin_url: str, executions: int, reuse: bool) -> str:
    url = make_url(admin_url).set(database=BENCH_DB).render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)
        ).fetchone()
        if exists and reuse:
            return url
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(BENCH_DB)))  # fmt: skip
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))
    db = connect_database(Settings.model_validate({"database": {"url": url}}))
    try:
        upgrade(db)
        started = time.perf_counter()
        seed_demo(db, executions=executions, actor="bench")
        print(f"seeded {executions:,} executions in {time.perf_counter() - started:.0f}s")
    finally:
        db.dispose()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return url


def _median_ms(run: Callable[[], object], samples: int) -> float:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep an existing database")
    parser.add_argument("--keep", action="store_true", help="do not drop it at the end")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    url = _prepare(args.admin_url, args.executions, args.reuse)
    db = connect_database(Settings.model_validate({"database": {"url": url}}))
    now = datetime.now(UTC)
    try:
        with psycopg.connect(url) as conn:
            plan = conn.execute(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT CAST(timezone('UTC', "
                "completed_at) AS DATE) AS day, count(*) FROM workflow_execution "
                "WHERE completed_at >= now() - interval '30 days' GROUP BY day"
            ).fetchall()
        print("daily aggregate plan:")
        for (line,) in plan:
            print("   ", line)
        queries: dict[str, Callable[[], object]] = {
            "executions per hour (24 h)": lambda: stats.hourly_activity(db, now=now),
            "avg + p95 duration (24 h)": lambda: stats.duration_figures(db, now=now),
            "avg + p95 duration (1 h, /metrics)": lambda: stats.duration_figures(
                db, now=now, hours=1
            ),
            "daily statistics (30 d)": lambda: stats.daily_statistics(db, now=now),
            "per-workflow counts (30 d)": lambda: stats.workflow_counts(db, now=now),
            "failure reasons (30 d)": lambda: stats.failure_reasons(db, now=now),
            "workflows created (30 d)": lambda: stats.workflows_created(db, now=now),
            "workflow counter totals (/metrics)": lambda: stats.workflow_totals(db),
            "whole `wfconsole stats`": lambda: collect_statistics(db, IdleQueue(), now=now),
        }
        try:
            from engine.http.metrics import scrape

            queries["one /metrics scrape"] = lambda: scrape(db, IdleQueue(), now=now)
        except ImportError:
            pass
        for label, run in queries.items():
            print(f"{label:<40} median {_median_ms(run, args.samples):8.1f} ms")
    finally:
        db.dispose()
        if not args.keep:
            with psycopg.connect(args.admin_url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(BENCH_DB)))  # fmt: skip
    print(f"load average after {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
