"""What one dashboard refresh costs at a million executions, query by query, on PostgreSQL.

Runs ``collect_dashboard`` (the engine call behind one dashboard tick) while recording
every statement it sends, then prints each statement's plan (EXPLAIN ANALYZE, BUFFERS:
the index it uses, the rows it reads) and its median time, and the median time of the
whole tick. The database ``wf_dash_bench`` is seeded by COPY (about 2 minutes on 2
cores), vacuumed so index-only scans apply, and dropped at the end unless ``--keep``;
``--reuse`` skips seeding when it already exists.

    .venv/bin/python bench/dashboard_queries.py [--executions 1000000] [--samples 20]
        [--reuse] [--keep] [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._args import add_admin_url, print_load
from bench._seeded import IdleQueue, drop_database, median_ms, seeded_database
from engine.config import Settings
from engine.db import Database, connect_database
from engine.services.dashboard import collect_dashboard

BENCH_DB = "wf_dash_bench"


def _recorded_statements(db: Database) -> list[tuple[str, Any]]:
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    sa.event.listen(db.read_engine, "before_cursor_execute", record)
    try:
        collect_dashboard(db, IdleQueue(), now=datetime.now(UTC), heartbeat_interval=5.0)
    finally:
        sa.event.remove(db.read_engine, "before_cursor_execute", record)
    return statements


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="keep an existing database")
    parser.add_argument("--keep", action="store_true", help="do not drop it at the end")
    parser.add_argument("--json", action="store_true", help="print the tick medians as JSON, last")
    add_admin_url(parser)
    args = parser.parse_args()
    print_load()
    url = seeded_database(args.admin_url, BENCH_DB, args.executions, args.reuse)
    db = connect_database(Settings.model_validate({"database": {"url": url}}))
    try:
        statements = _recorded_statements(db)
        raw = db.read_engine.raw_connection()
        try:
            cursor = raw.cursor()
            for statement, parameters in statements:
                print("\n" + " ".join(statement.split())[:300])
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters)
                for (line,) in cursor.fetchall():
                    print("   ", line)
                took = median_ms(partial(cursor.execute, statement, parameters), args.samples)
                print(f"    median {took:.1f} ms")
        finally:
            raw.close()
        tick = median_ms(
            lambda: collect_dashboard(
                db, IdleQueue(), now=datetime.now(UTC), heartbeat_interval=5.0
            ),
            args.samples,
        )
        print(f"\nfull dashboard tick ({len(statements)} queries): median {tick:.1f} ms")
        last = [collect_dashboard(db, IdleQueue(), now=datetime.now(UTC), heartbeat_interval=5.0)]

        def steady() -> None:
            last[0] = collect_dashboard(
                db, IdleQueue(), now=datetime.now(UTC), heartbeat_interval=5.0, previous=last[0]
            )

        steady_ms = median_ms(steady, args.samples)
        print(
            "steady tick (previous refresh given: settled minutes and 24 h figures reused):"
            f" median {steady_ms:.1f} ms"
        )
    finally:
        db.dispose()
        if not args.keep:
            drop_database(args.admin_url, BENCH_DB)
    print(f"load average after {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        print(
            json.dumps(
                {"executions": args.executions, "tick_ms": tick, "steady_tick_ms": steady_ms}
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
