"""How fast ``wfconsole demo`` seeds: a million executions on PostgreSQL, 100k on SQLite.

PostgreSQL: creates ``wf_bench_seed`` on the server, migrates it with engine.db.upgrade,
seeds, prints the figures and drops the database. SQLite: a file in a temporary
directory. The load average is printed too: on a shared machine it explains a lot.

    .venv/bin/python bench/demo_seed.py [--executions N] [--sqlite-executions N]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres] [--only pg|sqlite]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._args import add_admin_url, print_load
from engine.config import Settings
from engine.db import connect_database, open_database, upgrade
from engine.demo.seed import DemoSummary, seed_demo

BENCH_DB = "wf_bench_seed"


def _progress(label: str):
    started = time.perf_counter()

    def show(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        print(f"  {label}: {done:>9,} / {total:,}  {elapsed:6.1f}s", file=sys.stderr)

    return show


def _report(label: str, summary: DemoSummary) -> dict[str, float]:
    seconds = summary.seconds
    print(
        f"{label:<10} {summary.executions:>9,} executions  {summary.steps:>9,} steps"
        f"  {summary.logs:>9,} logs  = {summary.rows:>10,} rows in {seconds:6.1f}s"
        f"  -> {summary.executions / seconds:>8,.0f} executions/s"
        f"  {summary.rows / seconds:>9,.0f} rows/s"
    )
    return {"executions": summary.executions, "rows": summary.rows, "seconds": seconds,
            "rows_per_second": summary.rows / seconds}  # fmt: skip


def bench_postgres(admin_url: str, executions: int) -> DemoSummary:
    """Seed a fresh, migrated PostgreSQL database; drop it afterwards."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB))
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))
        try:
            url = make_url(admin_url).set(database=BENCH_DB).render_as_string(hide_password=False)
            db = connect_database(Settings.model_validate({"database": {"url": url}}))
            try:
                upgrade(db)
                return seed_demo(
                    db, executions=executions, actor="bench", progress=_progress("postgres")
                )
            finally:
                db.dispose()
        finally:
            admin.execute(drop)


def bench_sqlite(executions: int) -> DemoSummary:
    """Seed a new SQLite file in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="wf-bench-seed-") as directory:
        url = f"sqlite:///{Path(directory) / 'demo.db'}"
        db = open_database(Settings.model_validate({"database": {"url": url}}))
        try:
            return seed_demo(db, executions=executions, actor="bench", progress=_progress("sqlite"))
        finally:
            db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000, help="on PostgreSQL")
    parser.add_argument("--sqlite-executions", type=int, default=100_000)
    add_admin_url(parser)
    parser.add_argument("--only", choices=("pg", "sqlite"))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON, last")
    args = parser.parse_args()
    figures: dict[str, dict[str, float]] = {}
    print_load()
    if args.only != "sqlite":
        figures["postgres"] = _report("postgres", bench_postgres(args.admin_url, args.executions))
    if args.only != "pg":
        figures["sqlite"] = _report("sqlite", bench_sqlite(args.sqlite_executions))
    print(f"load average after {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
