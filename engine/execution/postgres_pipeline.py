"""PostgreSQL fast path: the claim and the commit round in psycopg pipeline mode.

The same statements, conditions and locks as ``execution_store.claim_batch`` and
``round_store.core_round`` (which serve SQLite and any other dialect), sent through the
pooled connection's psycopg connection in pipeline mode: BEGIN, the statements and
COMMIT go out together, so a claim costs one round trip (claim, refusal look-up, COMMIT
and the post-commit cap check) and a commit round two (lock the rows; then write and
COMMIT), a round of finishes one — as a single statement in autocommit mode (its own
transaction, no BEGIN or COMMIT; its rows as JSON parameters) whenever the counters it
updates are of one workflow. A trigger's inserts (manual run, webhook) are
``postgres_inserts``'s, exported here too. Statements run often are prepared by psycopg
automatically.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa

from engine.execution.claims import (
    CLAIM_SQL_PYFORMAT,
    Claimed,
    ClaimResult,
    CounterDelta,
    claim_limit,
    classify_refusals,
)
from engine.execution.commit_rounds import RoundItem, round_rows
from engine.execution.postgres_connection import autocommit as _autocommit
from engine.execution.postgres_connection import jsonb as _jsonb
from engine.execution.postgres_connection import pipeline as _pipeline
from engine.execution.postgres_connection import records as _records
from engine.execution.postgres_inserts import insert_executions, insert_groups

__all__ = [
    "PgRound",
    "claim_batch",
    "fast_path",
    "finish_round",
    "insert_executions",
    "insert_groups",
    "pg_round",
]

# The claim (engine/execution/claims.py) as one statement that also
# - turns off the wait for its commit's WAL flush (``set_config(..., true)``: this
#   transaction only): a claim lost in a crash leaves the row PENDING (nothing ran), and any
#   later commit of this run flushes it anyway;
# - returns, for the ids it did not take, their status and available_at as this statement
#   saw them (why they were refused: and whether their workflow is flow-gated), flagged
#   false.
_CLAIM_HEAD, _CLAIM_UPDATE = CLAIM_SQL_PYFORMAT.strip().removeprefix("WITH").split("\nUPDATE ", 1)
_CLAIM_AND_LOOK = (
    "WITH no_flush_wait AS (SELECT set_config('synchronous_commit', 'off', true) AS setting),"
    + _CLAIM_HEAD.replace(
        "FROM workflow_execution WHERE status = 'RUNNING'",
        "FROM workflow_execution, no_flush_wait WHERE status = 'RUNNING'"
        " AND no_flush_wait.setting IS NOT NULL",
        1,
    )
    + ", claimed AS (UPDATE "
    + _CLAIM_UPDATE
    + ") SELECT true, id, workflow_id, workflow_version, trigger_type, trigger_data,"
    " retry_count, next_step, event_depth, NULL::varchar, NULL::timestamptz, NULL::boolean"
    " FROM claimed UNION ALL SELECT false, id, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " status, available_at, (SELECT w.flow_gated FROM workflow w"
    " WHERE w.id = workflow_execution.workflow_id)"
    " FROM workflow_execution WHERE id = ANY(CAST(%(ids)s AS VARCHAR[]))"
    " AND id NOT IN (SELECT id FROM claimed)"
)
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
# A run handed back to wait for a held destination: no retry spent (commit_rounds._WAIT).
_WAIT = (
    "UPDATE workflow_execution SET status = 'PENDING', available_at = %(b_available_at)s,"
    " next_step = %(b_next_step)s, lease_until = NULL, worker_id = NULL,"
    f" waiting = 'destination', waiting_for = %(b_waiting_for)s WHERE {_OURS}"
)
_DELETE_STEPS = "DELETE FROM workflow_execution_step WHERE execution_id = %s AND step_index = %s"
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


def claim_batch(
    conn: sa.Connection,
    ids: Sequence[str],
    *,
    now: datetime,
    lease_until: datetime,
    worker_id: str,
    max_running: int,
    fill: int = 0,
    most: int | None = None,
) -> ClaimResult:
    """``execution_store.claim_batch`` in one round trip (call outside a transaction):
    BEGIN, the claim (which also turns off the WAL flush wait of its commit and reads why
    the ids it did not take were left), COMMIT, and the post-commit cap check."""
    params = {
        "ids": list(ids),
        "now": now,
        "lease_until": lease_until,
        "worker_id": worker_id,
        "cap": max_running,
        "most": claim_limit(ids, fill, most),
        "fill": fill,
        "false": False,
    }
    with _pipeline(conn) as raw:
        claim, running = raw.cursor(), raw.cursor()
        claim.execute("BEGIN")
        claim.execute(_CLAIM_AND_LOOK, params)
        running.execute("COMMIT")
        # After our COMMIT: whichever of two racing claims checks last sees both.
        running.execute(_RUNNING)
        rows = claim.fetchall()
        count_row = running.fetchone()
    claimed_by_id = {row[1]: Claimed(*row[1:9]) for row in rows if row[0]}
    found = {row[1]: (row[9], row[10], row[11]) for row in rows if not row[0]}
    # The message's own ids first, in their order; then the rest, as claimed.
    claimed = [claimed_by_id.pop(i) for i in ids if i in claimed_by_id]
    claimed += claimed_by_id.values()
    taken = {c.id for c in claimed}
    refused = classify_refusals([i for i in ids if i not in taken], found, now)
    running_now = int(count_row[0]) if count_row else 0
    return ClaimResult(claimed, refused, max(0, running_now - max_running) if claimed else 0)


_STEP_COLUMNS = (
    "execution_id", "step_index", "action_type", "status", "result", "error", "attempt",
    "started_at", "completed_at", "duration_ms",
)  # fmt: skip
_LOG_COLUMNS = ("execution_id", "level", "message", "data", "step_index", "timestamp")
# Multi-row forms: one statement per kind of write, however many rows (arrays unnested).
_ROUND_FINISHED = """
UPDATE workflow_execution AS e SET status = r.status, completed_at = r.completed_at,
    duration_ms = r.duration_ms, next_step = r.next_step, result = r.result, error = r.error,
    error_signature = r.error_signature, lease_until = NULL
FROM unnest(%(f_id)s::varchar[], %(f_status)s::varchar[], %(f_completed_at)s::timestamptz[],
    %(f_duration_ms)s::float8[], %(f_next_step)s::int[], %(f_result)s::jsonb[],
    %(f_error)s::text[], %(f_error_signature)s::varchar[])
    AS r(id, status, completed_at, duration_ms, next_step, result, error, error_signature)
WHERE e.id = r.id AND e.status = 'RUNNING' AND e.worker_id = %(worker)s
RETURNING e.id
"""
_ROUND_STEPS = """
INSERT INTO workflow_execution_step (execution_id, step_index, action_type, status, result,
    error, attempt, started_at, completed_at, duration_ms)
SELECT * FROM unnest(%(s_execution_id)s::varchar[], %(s_step_index)s::int[],
    %(s_action_type)s::varchar[], %(s_status)s::varchar[], %(s_result)s::jsonb[],
    %(s_error)s::text[], %(s_attempt)s::int[], %(s_started_at)s::timestamptz[],
    %(s_completed_at)s::timestamptz[], %(s_duration_ms)s::float8[])
"""
_ROUND_LOGS = """
INSERT INTO workflow_execution_log (execution_id, level, message, data, step_index, "timestamp")
SELECT * FROM unnest(%(l_execution_id)s::varchar[], %(l_level)s::varchar[],
    %(l_message)s::text[], %(l_data)s::jsonb[], %(l_step_index)s::int[],
    %(l_timestamp)s::timestamptz[])
"""
# A round whose every decision is a finish, in one statement and without locking first:
# the finish is conditional on the row being ours, and the step and log rows go in only
# for the rows it finished (the cancel flag the lock would read changes no finish).
_FINISH_ROUND = (
    "WITH finished AS (" + _ROUND_FINISHED.strip() + "),"
    " steps AS ("
    + _ROUND_STEPS.strip().replace("SELECT * FROM unnest(", "SELECT s.* FROM unnest(", 1)
    + " AS s("
    + ", ".join(_STEP_COLUMNS)
    + ")"
    " WHERE s.execution_id IN (SELECT id FROM finished)),"
    " logs AS ("
    + _ROUND_LOGS.strip().replace("SELECT * FROM unnest(", "SELECT l.* FROM unnest(", 1)
    + ' AS l(execution_id, level, message, data, step_index, "timestamp")'
    " WHERE l.execution_id IN (SELECT id FROM finished))"
    " SELECT id FROM finished"
)
# ``_FINISH_ROUND`` with its rows as JSON arrays of objects (read by jsonb_to_recordset:
# one parameter each for psycopg to send, instead of one array per column dumped element
# by element) and the counters of its one workflow from what it finished, as one
# statement: ``finish_round`` when every finish is of one workflow (one counter row lock,
# so no lock order to keep). Sent alone in autocommit, it is its own transaction.
_STEP_RECORDS = """jsonb_to_recordset(%(steps)s::jsonb) AS s(execution_id varchar,
    step_index int, action_type varchar, status varchar, result jsonb, error text, attempt int,
    started_at timestamptz, completed_at timestamptz, duration_ms float8)"""
_LOG_RECORDS = """jsonb_to_recordset(%(logs)s::jsonb) AS l(execution_id varchar, level varchar,
    message text, data jsonb, step_index int, "timestamp" timestamptz)"""
_LOG_NAMES = 'execution_id, level, message, data, step_index, "timestamp"'
_FINISH_ROUND_COUNTED = f"""
WITH finished AS (
    UPDATE workflow_execution AS e SET status = r.status, completed_at = r.completed_at,
        duration_ms = r.duration_ms, next_step = r.next_step, result = r.result,
        error = r.error, error_signature = r.error_signature, lease_until = NULL
    FROM jsonb_to_recordset(%(finishes)s::jsonb) AS r(id varchar, status varchar,
        completed_at timestamptz, duration_ms float8, next_step int, result jsonb, error text,
        error_signature varchar)
    WHERE e.id = r.id AND e.status = 'RUNNING' AND e.worker_id = %(worker)s
    RETURNING e.id, e.status, e.duration_ms, e.completed_at
), steps AS (
    INSERT INTO workflow_execution_step ({", ".join(_STEP_COLUMNS)})
    SELECT {", ".join(_STEP_COLUMNS)} FROM {_STEP_RECORDS}
    WHERE s.execution_id IN (SELECT id FROM finished)
), logs AS (
    INSERT INTO workflow_execution_log ({_LOG_NAMES})
    SELECT {_LOG_NAMES} FROM {_LOG_RECORDS}
    WHERE l.execution_id IN (SELECT id FROM finished)
), counted AS (
    UPDATE workflow SET
        execution_count = execution_count + s.n,
        last_execution_at = CASE WHEN last_execution_at IS NULL OR last_execution_at < s.latest
            THEN s.latest ELSE last_execution_at END,
        avg_execution_ms = CASE WHEN s.success + s.failure > 0
            THEN (COALESCE(avg_execution_ms, 0.0) * (success_count + failure_count)
                + s.timed_ms) / (success_count + failure_count + s.success + s.failure)
            ELSE avg_execution_ms END,
        success_count = success_count + s.success,
        failure_count = failure_count + s.failure
    FROM (
        SELECT count(*) AS n,
            count(*) FILTER (WHERE status = 'SUCCESS') AS success,
            count(*) FILTER (WHERE status = 'FAILED') AS failure,
            COALESCE(sum(duration_ms) FILTER (WHERE status IN ('SUCCESS', 'FAILED')), 0.0)
                AS timed_ms,
            max(completed_at) AS latest
        FROM finished
    ) AS s
    WHERE workflow.id = %(workflow_id)s AND s.n > 0
)
SELECT id FROM finished
"""
# The counters of one workflow from the rows this round finished (matched by id and by
# the completed_at it wrote), as ``_ADD_COUNTERS``: for a round that learns which rows were
# its own only from the finish itself.
_ADD_FINISHED_COUNTERS = """
UPDATE workflow SET
    execution_count = execution_count + s.n,
    last_execution_at = CASE WHEN last_execution_at IS NULL OR last_execution_at < s.latest
        THEN s.latest ELSE last_execution_at END,
    avg_execution_ms = CASE WHEN s.success + s.failure > 0
        THEN (COALESCE(avg_execution_ms, 0.0) * (success_count + failure_count) + s.timed_ms)
            / (success_count + failure_count + s.success + s.failure)
        ELSE avg_execution_ms END,
    success_count = success_count + s.success,
    failure_count = failure_count + s.failure
FROM (
    SELECT count(*) AS n,
        count(*) FILTER (WHERE e.status = 'SUCCESS') AS success,
        count(*) FILTER (WHERE e.status = 'FAILED') AS failure,
        COALESCE(sum(e.duration_ms) FILTER (WHERE e.status IN ('SUCCESS', 'FAILED')), 0.0)
            AS timed_ms,
        max(e.completed_at) AS latest
    FROM workflow_execution AS e
    JOIN unnest(%(ids)s::varchar[], %(completed_at)s::timestamptz[]) AS r(id, completed_at)
        ON e.id = r.id AND e.completed_at = r.completed_at
    WHERE e.worker_id = %(worker)s
) AS s
WHERE workflow.id = %(workflow_id)s AND s.n > 0
"""


def _columns(prefix: str, rows: Sequence[dict[str, Any]], names: Sequence[str],
             json_column: str) -> dict[str, list[Any]]:  # fmt: skip
    arrays = {f"{prefix}{name}": [row[name] for row in rows] for name in names}
    arrays[f"{prefix}{json_column}"] = [_jsonb(v) for v in arrays[f"{prefix}{json_column}"]]
    return arrays


def _finish_arrays(finishes: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    return {
        "f_id": [row["b_id"] for row in finishes],
        "f_status": [row["b_status"] for row in finishes],
        "f_completed_at": [row["b_completed_at"] for row in finishes],
        "f_duration_ms": [row["b_duration_ms"] for row in finishes],
        "f_next_step": [row["b_next_step"] for row in finishes],
        "f_result": [_jsonb(row.get("b_result")) for row in finishes],
        "f_error": [row["b_error"] for row in finishes],
        "f_error_signature": [row["b_error_signature"] for row in finishes],
    }


def _finish_records(finishes: Sequence[dict[str, Any]]) -> str:
    return _records([
        {"id": row["b_id"], "status": row["b_status"], "completed_at": row["b_completed_at"],
         "duration_ms": row["b_duration_ms"], "next_step": row["b_next_step"],
         "result": row.get("b_result"), "error": row["b_error"],
         "error_signature": row["b_error_signature"]}
        for row in finishes
    ])  # fmt: skip


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
        for statement, params in (
            (_RECORD_STEP, rows.records),
            (_HAND_BACK, rows.hand_backs),
            (_WAIT, rows.waits),
        ):
            if params:
                cursor.executemany(statement, params)
        finishes = rows.finishes + rows.finishes_with_result
        if finishes:
            cursor.execute(_ROUND_FINISHED, {**_finish_arrays(finishes), "worker": worker_id})
        if rows.steps_again:
            cursor.executemany(_DELETE_STEPS, rows.steps_again)
        if rows.steps:
            cursor.execute(_ROUND_STEPS, _columns("s_", rows.steps, _STEP_COLUMNS, "result"))
        if rows.logs:
            cursor.execute(_ROUND_LOGS, _columns("l_", rows.logs, _LOG_COLUMNS, "data"))
        # In workflow id order, so rounds of different workers lock counter rows alike.
        for workflow_id in sorted(rows.counters):
            cursor.execute(_ADD_COUNTERS, _counter_params(workflow_id, rows.counters[workflow_id]))


def finish_round(conn: sa.Connection, items: Sequence[RoundItem], *, worker_id: str) -> set[str]:
    """A round of finishes only, in one round trip: the finishes with their step and log
    rows (only for rows still ours) and the counters of their workflow from the rows it
    finished, as one statement in autocommit when they are of one workflow; otherwise
    pipelined: BEGIN, the finishes, one counters UPDATE per workflow (in id order), COMMIT.
    Returns the ids it finished (the rest were no longer ours). Not for steps run again
    (their earlier rows are deleted first: ``pg_round``)."""
    rows = round_rows(items, worker_id=worker_id)
    finishes = rows.finishes + rows.finishes_with_result
    by_workflow: dict[str, list[dict[str, Any]]] = {}
    workflow_of = {item.execution_id: item.workflow_id for item in items}
    for row in finishes:
        by_workflow.setdefault(workflow_of[row["b_id"]], []).append(row)
    if len(by_workflow) <= 1:
        one = {
            "finishes": _finish_records(finishes),
            "steps": _records(rows.steps),
            "logs": _records(rows.logs),
            "worker": worker_id,
            "workflow_id": next(iter(by_workflow), None),
        }
        with _autocommit(conn) as raw, raw.cursor() as cursor:
            cursor.execute(_FINISH_ROUND_COUNTED, one)
            return {row[0] for row in cursor.fetchall()}
    params: dict[str, Any] = {**_finish_arrays(finishes), "worker": worker_id}
    params.update(_columns("s_", rows.steps, _STEP_COLUMNS, "result"))
    params.update(_columns("l_", rows.logs, _LOG_COLUMNS, "data"))
    with _pipeline(conn) as raw:
        cursor, finish = raw.cursor(), raw.cursor()
        cursor.execute("BEGIN")
        finish.execute(_FINISH_ROUND, params)
        for workflow_id in sorted(by_workflow):
            mine = by_workflow[workflow_id]
            cursor.execute(_ADD_FINISHED_COUNTERS, {
                "ids": [row["b_id"] for row in mine],
                "completed_at": [row["b_completed_at"] for row in mine],
                "worker": worker_id,
                "workflow_id": workflow_id,
            })  # fmt: skip
        cursor.execute("COMMIT")
        return {row[0] for row in finish.fetchall()}


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


def fast_path(conn: sa.Connection) -> bool:
    """PostgreSQL through psycopg: the hot transactions go through this module."""
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"
