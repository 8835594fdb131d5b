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
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.config import Settings
from engine.db import Database, connect_database, upgrade
from engine.demo import seed_demo
from engine.services.dashboard import collect_dashboard

BENCH_DB = "wf_dash_bench"


class IdleQueue:
    """The queue side of a tick is one LLEN per count on Redis; left out of the figures."""

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


def _median_ms(run: Any, samples: int) -> float:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20)
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
                took = _median_ms(lambda s=statement, p=parameters: cursor.execute(s, p),
                                  args.samples)  # fmt: skip
                print(f"    median {took:.1f} ms")
        finally:
            raw.close()
        tick = _median_ms(
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

        print(
            "steady tick (previous refresh given: settled minutes and 24 h figures reused):"
            f" median {_median_ms(steady, args.samples):.1f} ms"
        )
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
