"""Payload search (``executions list --where``) at scale, beside a baseline in the same run.

PostgreSQL: N executions (default 1,000,000) with distinct trigger data
``{"order": "o<i>", "amount": i % 1000}`` are inserted with generate_series into a
throwaway database migrated by ``wfconsole db upgrade``'s code; then
``list_executions(where=parse_where("trigger.order = o<k>"))`` is timed (best of 5, the
GIN index ``idx_execution_trigger_data`` serving it) beside the same search with that
index dropped (the baseline: what the query costs without it). SQLite: the same search
over ``--sqlite-rows`` executions (no index can serve it there).

    .venv/bin/python bench/payload_search.py [--rows 1000000] [--sqlite-rows 100000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import make_url

from engine.config import Settings
from engine.db import Database, connect_database, open_database, upgrade
from engine.services.executions import list_executions
from engine.services.payload_search import parse_where
from engine.services.workflows import save_document

ADMIN = os.environ.get("TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
NAME = "wf_bench_payload"
WORKFLOW = {
    "name": "orders",
    "triggers": [{"type": "manual"}],
    "actions": [{"type": "create_task", "title": "t"}],
}
SEED = """
INSERT INTO workflow_execution (id, workflow_id, workflow_version, status, trigger_type,
    trigger_data, created_at, available_at, retry_count, next_step, cancel_requested,
    event_depth)
SELECT 'bench-' || g, :workflow, 1, 'SUCCESS', 'webhook',
    {json}, now() - make_interval(secs => g), now(), 0, 0, false, 0
FROM generate_series(1, :rows) AS g
"""


def settings(url: str) -> Settings:
    return Settings.model_validate({"database": {"url": url}})


def seed(db: Database, rows: int, json_expression: str) -> None:
    save_document(db, WORKFLOW, actor="bench")
    with db.engine.begin() as conn:
        workflow = conn.execute(sa.text("SELECT id FROM workflow")).scalar_one()
        conn.execute(sa.text(SEED.format(json=json_expression)),
                     {"workflow": workflow, "rows": rows})  # fmt: skip


def best_of(run: Callable[[], object], times: int = 5) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(times):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best * 1000, result


def search(db: Database, order: str) -> Callable[[], object]:
    where = parse_where(f"trigger.order = {order}")
    return lambda: [row.id for row in list_executions(db, where=where, limit=50)]


def postgres(rows: int) -> None:
    url = make_url(ADMIN).set(database=NAME).render_as_string(hide_password=False)
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(NAME))
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(NAME)))
    db = connect_database(settings(url))
    try:
        upgrade(db)
        started = time.perf_counter()
        seed(db, rows, "jsonb_build_object('order', 'o' || g, 'amount', g % 1000)")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE workflow_execution")
        print(f"PostgreSQL: seeded {rows:,} executions in {time.perf_counter() - started:.0f} s")
        order = f"o{rows * 3 // 4}"
        indexed, found = best_of(search(db, order))
        assert found == [f"bench-{rows * 3 // 4}"], found
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP INDEX idx_execution_trigger_data"))
        bare, found_bare = best_of(search(db, order), times=3)
        assert found_bare == found
        print(f"  --where 'trigger.order = {order}'  {indexed:8.1f} ms with the GIN index"
              f"   | without it (baseline, same run) {bare:8.1f} ms")  # fmt: skip
    finally:
        db.dispose()
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(drop)


def sqlite(rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(settings(f"sqlite:///{Path(folder) / 'bench.db'}"))
        try:
            started = time.perf_counter()
            with db.engine.begin() as conn:  # SQLite has no generate_series: a recursive CTE
                conn.execute(sa.text("PRAGMA journal_mode=WAL"))
            seed_sqlite(db, rows)
            print(f"SQLite: seeded {rows:,} executions in {time.perf_counter() - started:.0f} s")
            order = f"o{rows * 3 // 4}"
            took, found = best_of(search(db, order), times=3)
            assert found == [f"bench-{rows * 3 // 4}"], found
            newest, _ = best_of(search(db, f"o{1}"), times=3)
            print(f"  --where 'trigger.order = {order}'  {took:8.1f} ms (reads every row: no "
                  f"index)   | a match among the newest rows {newest:6.1f} ms")  # fmt: skip
        finally:
            db.dispose()


def seed_sqlite(db: Database, rows: int) -> None:
    save_document(db, WORKFLOW, actor="bench")
    with db.engine.begin() as conn:
        workflow = conn.execute(sa.text("SELECT id FROM workflow")).scalar_one()
        conn.execute(sa.text("""
            WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :rows)
            INSERT INTO workflow_execution (id, workflow_id, workflow_version, status,
                trigger_type, trigger_data, created_at, available_at, retry_count, next_step,
                cancel_requested, event_depth)
            SELECT 'bench-' || n, :workflow, 1, 'SUCCESS', 'webhook',
                json_object('order', 'o' || n, 'amount', n % 1000),
                strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || n || ' seconds'),
                strftime('%Y-%m-%d %H:%M:%f', 'now'), 0, 0, 0, 0
            FROM g
        """), {"rows": rows, "workflow": workflow})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="PostgreSQL executions")
    parser.add_argument("--sqlite-rows", type=int, default=100_000, help="SQLite executions")
    args = parser.parse_args()
    postgres(args.rows)
    sqlite(args.sqlite_rows)


if __name__ == "__main__":
    main()
