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
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._args import add_admin_url, print_load
from bench._seeded import IdleQueue, drop_database, median_ms, seeded_database
from engine.config import Settings
from engine.db import connect_database
from engine.services import statistics as stats
from engine.services.stats_report import collect_statistics

BENCH_DB = "wf_stats_bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep an existing database")
    parser.add_argument("--keep", action="store_true", help="do not drop it at the end")
    parser.add_argument("--json", action="store_true", help="print the medians as JSON, last")
    add_admin_url(parser)
    args = parser.parse_args()
    print_load()
    url = seeded_database(args.admin_url, BENCH_DB, args.executions, args.reuse)
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
        medians: dict[str, float] = {}
        for label, run in queries.items():
            medians[label] = median_ms(run, args.samples)
            print(f"{label:<40} median {medians[label]:8.1f} ms")
    finally:
        db.dispose()
        if not args.keep:
            drop_database(args.admin_url, BENCH_DB)
    print(f"load average after {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        print(json.dumps({"executions": args.executions, "median_ms": medians}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
