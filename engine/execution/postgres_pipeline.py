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
    claim_limit,
    classify_refusals,
)
from engine.execution.commit_rounds import RoundItem, round_rows
from engine.execution.decisions import SKIPPED_LOG

# The claim (engine/execution/claims.py) as one statement that also
# - turns off the wait for its commit's WAL flush (``set_config(..., true)``: this
#   transaction only): a claim lost in a crash leaves the row PENDING (nothing ran), and any
#   later commit of this run flushes it anyway;
# - returns, for the ids it did not take, their status and available_at as this statement
#   saw them (why they were refused), flagged false.
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
    " retry_count, next_step, event_depth, NULL::varchar, NULL::timestamptz FROM claimed"
    " UNION ALL SELECT false, id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, status,"
    " available_at FROM workflow_execution WHERE id = ANY(CAST(%(ids)s AS VARCHAR[]))"
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
    found = {row[1]: (row[9], row[10]) for row in rows if not row[0]}
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
        for statement, params in ((_RECORD_STEP, rows.records), (_HAND_BACK, rows.hand_backs)):
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
    """A round of finishes only, in one round trip: BEGIN, the finishes with their step and
    log rows (one statement, only for rows still ours), the workflows' counters from the
    rows it finished (one UPDATE per workflow, in id order), COMMIT. Returns the ids it
    finished (the rest were no longer ours). Not for steps run again (their earlier rows
    are deleted first: ``pg_round``)."""
    rows = round_rows(items, worker_id=worker_id)
    finishes = rows.finishes + rows.finishes_with_result
    params: dict[str, Any] = {**_finish_arrays(finishes), "worker": worker_id}
    params.update(_columns("s_", rows.steps, _STEP_COLUMNS, "result"))
    params.update(_columns("l_", rows.logs, _LOG_COLUMNS, "data"))
    by_workflow: dict[str, list[dict[str, Any]]] = {}
    workflow_of = {item.execution_id: item.workflow_id for item in items}
    for row in finishes:
        by_workflow.setdefault(workflow_of[row["b_id"]], []).append(row)
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


# The rows of one or more triggers (``grp``: a webhook request of a group commit, or the
# one trigger) in one statement, each group all or none: a group goes in only when every
# one of its rows' workflows is, at this statement, enabled at the row's version
# (engine/triggers/versioned_inserts.py has the same condition for every dialect). One
# array per column, unnested into rows. A row decided SKIPPED at ingress
# (engine/triggers/ingress.py) gets its log line from the same statement.
_INSERT_GROUPS = """
WITH wanted AS (
    SELECT * FROM unnest(%(grp)s::int[], %(id)s::varchar[], %(workflow_id)s::varchar[],
        %(workflow_version)s::int[], %(status)s::varchar[], %(trigger_type)s::varchar[],
        %(trigger_data)s::jsonb[], %(created_at)s::timestamptz[], %(available_at)s::timestamptz[],
        %(started_at)s::timestamptz[], %(completed_at)s::timestamptz[],
        %(duration_ms)s::float8[], %(retry_count)s::int[], %(next_step)s::int[],
        %(cancel_requested)s::bool[], %(event_depth)s::int[])
        AS r(grp, id, workflow_id, workflow_version, status, trigger_type, trigger_data,
            created_at, available_at, started_at, completed_at, duration_ms, retry_count,
            next_step, cancel_requested, event_depth)
), whole AS (
    SELECT wanted.grp FROM wanted LEFT JOIN workflow ON workflow.id = wanted.workflow_id
        AND workflow.version = wanted.workflow_version AND workflow.enabled
    GROUP BY wanted.grp HAVING count(workflow.id) = count(*)
), inserted AS (
    INSERT INTO workflow_execution (id, workflow_id, workflow_version, status, trigger_type,
        trigger_data, created_at, available_at, started_at, completed_at, duration_ms,
        retry_count, next_step, cancel_requested, event_depth)
    SELECT id, workflow_id, workflow_version, status, trigger_type, trigger_data, created_at,
        available_at, started_at, completed_at, duration_ms, retry_count, next_step,
        cancel_requested, event_depth
    FROM wanted WHERE grp IN (SELECT grp FROM whole)
    RETURNING id, status, completed_at
), skipped_logs AS (
    INSERT INTO workflow_execution_log (execution_id, level, message, data, step_index,
        "timestamp")
    SELECT id, 'INFO', %(skipped_log)s, NULL, NULL, completed_at FROM inserted
    WHERE status = 'SKIPPED'
)
SELECT id FROM inserted
"""
# The skipped runs of one workflow that went in, added to its counters (as
# ``_ADD_COUNTERS``: execution_count and last_execution_at; no duration to average).
_ADD_SKIPPED = """
UPDATE workflow SET
    execution_count = execution_count + s.n,
    last_execution_at = CASE WHEN last_execution_at IS NULL OR last_execution_at < s.latest
        THEN s.latest ELSE last_execution_at END
FROM (SELECT count(*) AS n, max(completed_at) AS latest FROM workflow_execution
      WHERE id = ANY(%(ids)s::varchar[])) AS s
WHERE workflow.id = %(workflow_id)s AND s.n > 0
"""
_EXECUTION_COLUMNS = (
    "id", "workflow_id", "workflow_version", "status", "trigger_type", "trigger_data",
    "created_at", "available_at", "started_at", "completed_at", "duration_ms", "retry_count",
    "next_step", "cancel_requested", "event_depth",
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
    return insert_groups(conn, [rows], audit)[0]


def insert_groups(
    conn: sa.Connection,
    groups: Sequence[Sequence[dict[str, Any]]],
    audit: dict[str, Any] | None = None,
) -> list[bool]:
    """The rows of several triggers in one transaction and one round trip: BEGIN, one
    INSERT (each group all or none; skipped runs' log lines with it), the skipped runs'
    counters (one UPDATE per workflow, in id order), the audit row, COMMIT.

    Returns, per group, whether its rows went in. ``audit`` goes in with the first group's
    rows (callers with an audit row pass one group).
    """
    rows = [row for group in groups for row in group]
    if not rows:
        return [True] * len(groups)
    params: dict[str, Any] = {name: [row.get(name) for row in rows] for name in _EXECUTION_COLUMNS}
    params["grp"] = [number for number, group in enumerate(groups) for _ in group]
    params["trigger_data"] = [Jsonb(data) for data in params["trigger_data"]]
    params["skipped_log"] = SKIPPED_LOG
    skipped: dict[str, list[str]] = {}
    for row in rows:
        if row["status"] == "SKIPPED":
            skipped.setdefault(row["workflow_id"], []).append(row["id"])
    with _pipeline(conn) as raw:
        cursor, insert = raw.cursor(), raw.cursor()
        cursor.execute("BEGIN")
        insert.execute(_INSERT_GROUPS, params)
        for workflow_id in sorted(skipped):
            cursor.execute(_ADD_SKIPPED, {"ids": skipped[workflow_id], "workflow_id": workflow_id})
        if audit is not None:
            details = _jsonb(audit["details"])
            first = groups[0][0]["id"] if groups[0] else rows[0]["id"]
            cursor.execute(_INSERT_AUDIT, {**audit, "details": details, "first_id": first})
        cursor.execute("COMMIT")
        inserted = {row[0] for row in insert.fetchall()}
    return [all(row["id"] in inserted for row in group) for group in groups]


def fast_path(conn: sa.Connection) -> bool:
    """PostgreSQL through psycopg: the hot transactions go through this module."""
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"
