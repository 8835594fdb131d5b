"""Old history for the cleanup benchmark and test, written by PostgreSQL itself.

``seed_old_history`` inserts N finished executions created 31 to 120 days ago (one step and
``logs_per`` log lines each, the lines as old as their run) with ``INSERT … SELECT`` over
``generate_series``: no row passes through Python. A big load drops the three tables'
secondary indexes and foreign keys first and rebuilds them after, as PostgreSQL's
"Populating a Database" advises. ``seed_unfinished`` adds old PENDING and RUNNING runs
that a cleanup must leave alone and that workers do not pick up meanwhile (PENDING ones
are due tomorrow; RUNNING ones hold a lease for a day).
"""

from __future__ import annotations

from typing import Any

import psycopg

HISTORY = ("workflow_execution", "workflow_execution_step", "workflow_execution_log")
REBUILD_FROM = 200_000  # below this, keeping the indexes is cheaper than rebuilding them

# Run i of n: created between 31 and 120 days ago, oldest first; 1 in 20 FAILED.
_EXECUTIONS = """
INSERT INTO workflow_execution (id, workflow_id, workflow_version, status, trigger_type,
    trigger_data, created_at, started_at, completed_at, duration_ms, retry_count,
    available_at, next_step, cancel_requested, event_depth)
SELECT md5(%(salt)s || i)::uuid::text, %(workflow)s, 1,
    CASE WHEN i %% 20 = 0 THEN 'FAILED' ELSE 'SUCCESS' END, 'manual', '{}'::jsonb,
    t, t + interval '5 ms', t + interval '40 ms', 35.0, 0, t, 1, false, 0
FROM generate_series(1, %(n)s) AS i,
    LATERAL (SELECT now() - interval '31 days'
                 - (%(n)s - i) * (interval '89 days' / %(n)s) AS t) AS stamp
"""
_STEPS = """
INSERT INTO workflow_execution_step (execution_id, step_index, action_type, status,
    attempt, started_at, completed_at, duration_ms)
SELECT id, 0, 'webhook', status, 0, started_at, completed_at, 30.0
FROM workflow_execution WHERE trigger_data = '{}'::jsonb AND created_at < %(before)s
"""
_LOGS = """
INSERT INTO workflow_execution_log (execution_id, level, message, step_index, "timestamp")
SELECT e.id, 'INFO', 'step ' || k || ' done', 0, e.created_at + k * interval '1 ms'
FROM workflow_execution e, generate_series(1, %(per)s) AS k
WHERE e.trigger_data = '{}'::jsonb AND e.created_at < %(before)s
"""
_UNFINISHED = """
INSERT INTO workflow_execution (id, workflow_id, workflow_version, status, trigger_type,
    trigger_data, created_at, started_at, available_at, lease_until, worker_id, retry_count,
    next_step, cancel_requested, event_depth)
SELECT md5(%(salt)s || s || i)::uuid::text, %(workflow)s, 1, s, 'manual',
    '{"old": "unfinished"}'::jsonb, now() - interval '60 days',
    CASE WHEN s = 'RUNNING' THEN now() - interval '60 days' END,
    now() + interval '1 day', CASE WHEN s = 'RUNNING' THEN now() + interval '1 day' END,
    CASE WHEN s = 'RUNNING' THEN 'elsewhere' END, 0, 0, false, 0
FROM generate_series(1, %(n)s) AS i, unnest(ARRAY['PENDING', 'RUNNING']) AS s
"""


def libpq_url(url: str) -> str:
    """``url`` as libpq takes it (without SQLAlchemy's ``+psycopg`` driver suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def seed_old_history(url: str, workflow_id: str, executions: int, logs_per: int = 5) -> int:
    """Insert the old finished runs, their steps and log lines; returns the rows written."""
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        restore = _drop_secondary(conn) if executions >= REBUILD_FROM else []
        params: dict[str, Any] = {"salt": "old", "workflow": workflow_id, "n": executions}
        conn.execute(_EXECUTIONS, params)
        cut = {"before": _newest_old(conn), "per": logs_per}
        conn.execute(_STEPS, cut)
        conn.execute(_LOGS, cut)
        for statement in reversed(restore):
            conn.execute(statement)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE " + ", ".join(HISTORY))
    return executions * (2 + logs_per)


def seed_unfinished(url: str, workflow_id: str, each: int) -> None:
    """``each`` old PENDING and ``each`` old RUNNING runs that no worker picks up."""
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(_UNFINISHED, {"salt": "open", "workflow": workflow_id, "n": each})


def _newest_old(conn: psycopg.Connection[Any]) -> Any:
    row = conn.execute("SELECT now() - interval '30 days'").fetchone()
    assert row is not None
    return row[0]


def _drop_secondary(conn: psycopg.Connection[Any]) -> list[str]:
    """Drop foreign keys and indexes that back no constraint; return how to restore them."""
    tables = "ARRAY['" + "', '".join(HISTORY) + "']::regclass[]"
    keys = conn.execute(
        "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid)"
        f" FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY({tables})"
    ).fetchall()
    indexes = conn.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i"
        f" WHERE indrelid = ANY({tables}) AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
    ).fetchall()
    restore = []
    for table, name, definition in keys:
        conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        restore.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for name, definition in indexes:
        conn.execute(f"DROP INDEX {name}")
        restore.append(definition)
    return restore
