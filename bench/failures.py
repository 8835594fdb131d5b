"""How fast the failures screen's queries are at a million executions on PostgreSQL.

Creates ``wf_fail_bench``, migrates it, seeds ``--executions`` demo runs of the past week
(engine.demo.seed), then times ``list_failure_clusters`` for each window and
``cluster_execution_ids`` for the biggest cluster. ``--unique-errors N`` then rewrites N
of the last day's runs as FAILED with an error unique to each (ids and numbers in it:
the worst case for the normaliser) and times again. The database is dropped at the end
unless ``--keep``.

    .venv/bin/python bench/failures.py [--executions N] [--unique-errors N] [--keep]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._args import add_admin_url, print_load
from bench.failure_clusters import migration
from engine.config import Settings
from engine.db import Database, connect_database, upgrade
from engine.demo.seed import seed_demo
from engine.execution.error_signature import _normalise
from engine.models import utcnow
from engine.services.failures import WINDOWS, cluster_execution_ids, list_failure_clusters

BENCH_DB = "wf_fail_bench"
T = TypeVar("T")
WARM_MS: dict[str, float] = {}
"""The warm time of each measured call (the last measurement of a label wins), for --json."""


def timed(label: str, call: Callable[[], T], repeat: int = 3) -> T:
    """Run ``call`` ``repeat`` times; print the first (cold) and the best later (warm) time."""
    times, result = [], None
    _normalise.cache_clear()  # the first run is cold; the others find signatures cached
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    WARM_MS[label] = min(times[1:]) * 1000
    print(f"  {label:<40} cold {times[0] * 1000:8.1f} ms   warm {WARM_MS[label]:8.1f} ms")
    assert result is not None
    return result


def measure(db: Database) -> None:
    now = utcnow()
    with db.engine.connect() as conn:
        for window, span in WINDOWS.items():
            failed = conn.execute(
                sa.text(
                    "SELECT count(*) FROM workflow_execution"
                    " WHERE status = 'FAILED' AND created_at >= :since"
                ),
                {"since": now - span},
            ).scalar()
            print(f"  {window:>3} window: {failed:,} failed executions")
    for window, span in WINDOWS.items():
        since = now - span
        clusters = timed(
            f"list_failure_clusters({window})",
            lambda: list_failure_clusters(db, since=since),  # noqa: B023 - called at once
        )
        print(f"      {len(clusters)} clusters, biggest {clusters[0].count if clusters else 0:,}")
    since = now - WINDOWS["24h"]
    biggest = list_failure_clusters(db, since=since)[0]
    ids = timed("cluster_execution_ids(biggest, 24h)", lambda: cluster_execution_ids(
        db, biggest.key, since=since))  # fmt: skip
    print(f"      {len(ids):,} ids")


def unique_failures(db: Database, count: int) -> None:
    """Turn ``count`` of the last day's runs into FAILED with a one-off error each (signed
    by migration 0008's backfill, as a worker failing them would have)."""
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE workflow_execution SET status = 'FAILED', error = 'step 1 (webhook): "
                "order ' || substr(id, 25) || ' at ' || created_at || ': HTTP 503 from "
                "https://erp.example.com/hook/' || substr(id, 25) || '?id=' || id"
                " WHERE id IN (SELECT id FROM workflow_execution WHERE created_at >= :since"
                " AND status <> 'FAILED' ORDER BY created_at DESC LIMIT :n)"
            ),
            {"since": utcnow() - WINDOWS["24h"], "n": count},
        )
    with db.engine.connect() as conn:  # signed as a worker failing them would have
        migration().backfill(conn, commit_each_batch=True)
    with db.engine.begin() as conn:
        conn.execute(sa.text("ANALYZE workflow_execution"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--unique-errors", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    parser.add_argument("--json", action="store_true", help="print warm times as JSON, last")
    add_admin_url(parser)
    args = parser.parse_args()
    print_load()
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB))
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)
        ).fetchone()
        if not (exists and args.keep):
            admin.execute(drop)
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))
        url = make_url(args.admin_url).set(database=BENCH_DB)
        db = connect_database(Settings.model_validate({"database": {"url": url.render_as_string(
            hide_password=False)}}))  # fmt: skip
        try:
            if not (exists and args.keep):
                upgrade(db)
                started = time.perf_counter()
                seed_demo(db, executions=args.executions, actor="bench")
                with db.engine.begin() as conn:
                    conn.execute(sa.text("ANALYZE"))
                print(f"seeded {args.executions:,} in {time.perf_counter() - started:.0f}s")
            print("demo history:")
            measure(db)
            if args.unique_errors:
                unique_failures(db, args.unique_errors)
                print(f"after {args.unique_errors:,} unique errors in the last 24 h:")
                measure(db)
        finally:
            db.dispose()
            if not args.keep:
                admin.execute(drop)
    if args.json:
        print(json.dumps({"executions": args.executions, "unique_errors": args.unique_errors,
                          "warm_ms": WARM_MS}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
