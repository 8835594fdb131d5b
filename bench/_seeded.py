"""A named PostgreSQL database seeded with a million demo executions, for query benchmarks.

Shared by bench/dashboard_queries.py and bench/stats_queries.py: the seed (COPY, about
2 minutes on 2 cores), a VACUUM ANALYZE so index-only scans apply, reuse on request,
and the drop at the end.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from engine.config import Settings
from engine.db import connect_database, upgrade
from engine.demo.seed import seed_demo


class IdleQueue:
    """The queue side is one LLEN per count on Redis; left out of the figures."""

    def pending_count(self) -> int:
        return 0

    def scheduled_count(self) -> int:
        return 0


def seeded_database(admin_url: str, name: str, executions: int, reuse: bool) -> str:
    """The URL of database ``name``, seeded and vacuumed (kept as it is with ``reuse``)."""
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and reuse:
            return url
        drop_database(admin_url, name)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
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


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def median_ms(run: Callable[[], object], samples: int) -> float:
    """The median wall time of ``run()`` over ``samples`` calls, in milliseconds."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)
