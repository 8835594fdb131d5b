"""PostgreSQL fast path: the claim and the commit round in psycopg pipeline mode.

The same statements, conditions and locks as ``execution_store.claim_batch`` and
``round_store.core_round`` (which serve SQLite and any other dialect), sent through the
pooled connection's psycopg connection in pipeline mode: BEGIN, the statements and
COMMIT go out together, so a claim costs one round trip (claim, refusal look-up, COMMIT
and the post-commit cap check) and a commit round two (lock the rows; then write and
COMMIT), a trigger's inserts (manual run, webhook) one. Statements run often are
prepared by psycopg automatically.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.types.json import Jsonb

from engine.execution.claims import (
    CLAIM_SQL_PYFORMAT,
    Claimed,
    ClaimResult,
    CounterDelta,
    classify_refusals,
)
from engine.execution.commit_rounds import RoundItem, round_rows

_LOOK = "SELECT id, status, available_at FROM workflow_execution WHERE id = ANY(%(ids)s)"
_RUNNING = "SELECT count(*) FROM workflow_execution WHERE status = 'RUNNING'"
_LOCK_OWNED = (
    "SELECT id, cancel_requested FROM workflow_execution"
    " WHERE id = ANY(%s) AND status = 'RUNNING' AND worker_id = %s ORDER BY id FOR UPDATE"
)
_OURS = "id = %(b_id)s AND status = 'RUNNING' AND worker_id = %(b_worker)s"
_RECORD_STEP = (
    "UPDATE workflow_execution SET next_step = %(b_next_step)s,"
    f" lease_until = %(b_lease_until)s WHERE {_OURS}"
)
_HAND_BACK = (
    "UPDATE workflow_execution SET status = 'PENDING', retry_count = retry_count + 1,"
    " available_at = %(b_available_at)s, next_step = %(b_next_step)s, lease_until = NULL,"
    f" worker_id = NULL, error = %(b_error)s WHERE {_OURS}"
)
_FINISH = (
    "UPDATE workflow_execution SET status = %(b_status)s, completed_at = %(b_completed_at)s,"
    " duration_ms = %(b_duration_ms)s, next_step = %(b_next_step)s, result = %(b_result)s,"
    f" error = %(b_error)s, lease_until = NULL WHERE {_OURS}"
)
_DELETE_STEPS = "DELETE FROM workflow_execution_step WHERE execution_id = %s AND step_index = %s"
_INSERT_STEP = (
    "INSERT INTO workflow_execution_step (execution_id, step_index, action_type, status,"
    " result, error, attempt, started_at, completed_at, duration_ms) VALUES (%(execution_id)s,"
    " %(step_index)s, %(action_type)s, %(status)s, %(result)s, %(error)s, %(attempt)s,"
    " %(started_at)s, %(completed_at)s, %(duration_ms)s)"
)
_INSERT_LOG = (
    "INSERT INTO workflow_execution_log (execution_id, level, message, data, step_index,"
    ' "timestamp") VALUES (%(execution_id)s, %(level)s, %(message)s, %(data)s,'
    " %(step_index)s, %(timestamp)s)"
)
# As ``execution_store.add_counters``: SET expressions read the row's values before the
# UPDATE, and a run that finished earlier never moves last_execution_at back.
_ADD_COUNTERS = """
UPDATE workflow SET
    execution_count = execution_count + %(finished)s,
    last_execution_at = CASE WHEN last_execution_at IS NULL OR last_execution_at < %(latest)s
        THEN %(latest)s ELSE last_execution_at END,
    avg_execution_ms = CASE WHEN %(timed_runs)s > 0
        THEN (COALESCE(avg_execution_ms, 0.0) * (success_count + failure_count) + %(timed_ms)s)
            / (success_count + failure_count + %(timed_runs)s)
        ELSE avg_execution_ms END,
    success_count = success_count + %(success)s,
    failure_count = failure_count + %(failure)s
WHERE id = %(id)s
"""


def _jsonb(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


@contextmanager
def _pipeline(conn: sa.Connection) -> Iterator[psycopg.Connection[Any]]:
    """The pooled connection's psycopg connection in autocommit + pipeline mode.

    The caller sends BEGIN … COMMIT itself (in autocommit mode psycopg adds no BEGIN of
    its own, which would cost a round trip). On any error the transaction is rolled
    back; a broken connection is invalidated so the pool never hands it out again.
    """
    if conn.in_transaction():
        conn.rollback()
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    raw.autocommit = True
    try:
        with raw.pipeline():
            yield raw
    except BaseException:
        if raw.broken or raw.closed:
            conn.invalidate()
        elif raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raw.execute("ROLLBACK")
        raise
    finally:
        if not (raw.broken or raw.closed):
            raw.autocommit = False


def claim_batch(
    conn: sa.Connection,
    ids: Sequence[str],
    *,
    now: datetime,
    lease_until: datetime,
    worker_id: str,
    max_running: int,
    fill: int = 0,
) -> ClaimResult:
    """``execution_store.claim_batch`` in one round trip (call outside a transaction)."""
    params = {
        "ids": list(ids),
        "now": now,
        "lease_until": lease_until,
        "worker_id": worker_id,
        "cap": max_running,
        "most": max(len(ids), fill),
        "fill": fill,
        "false": False,
    }
    with _pipeline(conn) as raw:
        claim, look, running = raw.cursor(), raw.cursor(), raw.cursor()
        claim.execute("BEGIN")
        # A claim need not wait for its WAL flush: a claim lost in a crash leaves the row
        # PENDING (nothing ran), and any later commit of this run flushes it anyway.
        claim.execute("SET LOCAL synchronous_commit = off")
        claim.execute(CLAIM_SQL_PYFORMAT, params)
        look.execute(_LOOK, params)
        running.execute("COMMIT")
        # After our COMMIT: whichever of two racing claims checks last sees both.
        running.execute(_RUNNING)
        rows = claim.fetchall()
        found = {row[0]: (row[1], row[2]) for row in look.fetchall()}
        count_row = running.fetchone()
    claimed_by_id = {row[0]: Claimed(*row) for row in rows}
    # The message's own ids first, in their order; then the rest, as claimed.
    claimed = [claimed_by_id.pop(i) for i in ids if i in claimed_by_id]
    claimed += claimed_by_id.values()
    taken = {c.id for c in claimed}
    refused = classify_refusals([i for i in ids if i not in taken], found, now)
    running_now = int(count_row[0]) if count_row else 0
    return ClaimResult(claimed, refused, max(0, running_now - max_running) if claimed else 0)


class PgRound:
    """A commit round on one pipelined psycopg connection (see ``pg_round``)."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        self.cursor = raw.cursor()

    def lock_owned(self, ids: Collection[str], *, worker_id: str) -> dict[str, bool]:
        """Lock the rows still ours, in id order; returns each one's ``cancel_requested``."""
        self.cursor.execute(_LOCK_OWNED, (sorted(ids), worker_id))
        return {row[0]: bool(row[1]) for row in self.cursor.fetchall()}

    def write(self, items: Sequence[RoundItem], *, worker_id: str) -> None:
        """Send every item's decision and rows (the COMMIT follows when the round ends)."""
        cursor = self.cursor
        rows = round_rows(items, worker_id=worker_id)
        for row in rows.finishes:
            row["b_result"] = None
        for row in rows.finishes_with_result:
            row["b_result"] = Jsonb(row["b_result"])
        for statement, params in (
            (_RECORD_STEP, rows.records),
            (_HAND_BACK, rows.hand_backs),
            (_FINISH, rows.finishes + rows.finishes_with_result),
        ):
            if params:
                cursor.executemany(statement, params)
        if rows.steps_again:
            cursor.executemany(_DELETE_STEPS, rows.steps_again)
        if rows.steps:
            cursor.executemany(
                _INSERT_STEP, [{**step, "result": _jsonb(step["result"])} for step in rows.steps]
            )
        if rows.logs:
            cursor.executemany(
                _INSERT_LOG, [{**entry, "data": _jsonb(entry["data"])} for entry in rows.logs]
            )
        # In workflow id order, so rounds of different workers lock counter rows alike.
        for workflow_id in sorted(rows.counters):
            cursor.execute(_ADD_COUNTERS, _counter_params(workflow_id, rows.counters[workflow_id]))


def _counter_params(workflow_id: str, delta: CounterDelta) -> dict[str, Any]:
    return {
        "id": workflow_id,
        "finished": delta.finished,
        "latest": delta.latest,
        "timed_runs": delta.success + delta.failure,
        "timed_ms": delta.timed_ms,
        "success": delta.success,
        "failure": delta.failure,
    }


@contextmanager
def pg_round(conn: sa.Connection) -> Iterator[PgRound]:
    """One transaction for a round: committed when the block ends, rolled back on error."""
    with _pipeline(conn) as raw:
        round_ = PgRound(raw)
        round_.cursor.execute("BEGIN")
        yield round_
        round_.cursor.execute("COMMIT")


# A trigger's rows in one statement, all or none: only when every row's workflow is, at
# this statement, enabled at the row's version (engine/triggers/versioned_inserts.py has the
# same condition for every dialect). One array per column, unnested into rows.
_INSERT_EXECUTIONS = """
WITH wanted AS (
    SELECT * FROM unnest(%(id)s::varchar[], %(workflow_id)s::varchar[],
        %(workflow_version)s::int[], %(status)s::varchar[], %(trigger_type)s::varchar[],
        %(trigger_data)s::jsonb[], %(created_at)s::timestamptz[], %(available_at)s::timestamptz[],
        %(retry_count)s::int[], %(next_step)s::int[], %(cancel_requested)s::bool[],
        %(event_depth)s::int[])
        AS r(id, workflow_id, workflow_version, status, trigger_type, trigger_data, created_at,
            available_at, retry_count, next_step, cancel_requested, event_depth)
), still_current AS (
    SELECT wanted.* FROM wanted JOIN workflow ON workflow.id = wanted.workflow_id
        AND workflow.version = wanted.workflow_version AND workflow.enabled
)
INSERT INTO workflow_execution (id, workflow_id, workflow_version, status, trigger_type,
    trigger_data, created_at, available_at, retry_count, next_step, cancel_requested,
    event_depth)
SELECT * FROM still_current WHERE (SELECT count(*) FROM still_current) = %(rows)s
RETURNING id
"""
# The same for one row (a webhook, a single manual run): plain parameters, no arrays.
_INSERT_EXECUTION = """
INSERT INTO workflow_execution (id, workflow_id, workflow_version, status, trigger_type,
    trigger_data, created_at, available_at, retry_count, next_step, cancel_requested,
    event_depth)
SELECT %(id)s, id, version, %(status)s, %(trigger_type)s, %(trigger_data)s, %(created_at)s,
    %(available_at)s, %(retry_count)s, %(next_step)s, %(cancel_requested)s, %(event_depth)s
FROM workflow WHERE id = %(workflow_id)s AND enabled AND version = %(workflow_version)s
RETURNING id
"""
_EXECUTION_COLUMNS = (
    "id", "workflow_id", "workflow_version", "status", "trigger_type", "trigger_data",
    "created_at", "available_at", "retry_count", "next_step", "cancel_requested", "event_depth",
)  # fmt: skip
# Written only when the rows were: the first of them is then visible to this transaction.
_INSERT_AUDIT = (
    'INSERT INTO audit_log ("timestamp", actor, action, target_type, target_id, details)'
    " SELECT %(timestamp)s, %(actor)s, %(action)s, %(target_type)s, %(target_id)s,"
    " %(details)s WHERE EXISTS (SELECT 1 FROM workflow_execution WHERE id = %(first_id)s)"
)


def insert_executions(
    conn: sa.Connection, rows: Sequence[dict[str, Any]], audit: dict[str, Any] | None = None
) -> bool:
    """A trigger's transaction — its execution rows and audit row — in one round trip.

    The workflows were looked up beforehand (engine/workflow_cache/cache.py); the rows go in
    only if every one of them is still enabled at the looked-up version. Returns False
    when one was not (disabled, deleted or saved again meanwhile): nothing was written.
    """
    if len(rows) == 1:
        statement = _INSERT_EXECUTION
        params = {**rows[0], "trigger_data": Jsonb(rows[0]["trigger_data"])}
    else:
        statement = _INSERT_EXECUTIONS
        params = {name: [row[name] for row in rows] for name in _EXECUTION_COLUMNS}
        params["trigger_data"] = [Jsonb(data) for data in params["trigger_data"]]
        params["rows"] = len(rows)
    with _pipeline(conn) as raw:
        cursor, insert = raw.cursor(), raw.cursor()
        cursor.execute("BEGIN")
        insert.execute(statement, params)
        if audit is not None and rows:
            details = _jsonb(audit["details"])
            cursor.execute(_INSERT_AUDIT, {**audit, "details": details, "first_id": rows[0]["id"]})
        cursor.execute("COMMIT")
        inserted = insert.fetchall()
    return len(inserted) == len(rows)


def fast_path(conn: sa.Connection) -> bool:
    """PostgreSQL through psycopg: the hot transactions go through this module."""
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"
