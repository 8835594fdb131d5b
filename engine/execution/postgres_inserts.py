"""PostgreSQL fast path for a trigger's transaction: its execution rows in one round trip.

A webhook request (several of them, in a group commit), a manual run or an event writes
its rows, the log lines and counters of the runs decided SKIPPED at ingress, and an
audit row in one transaction. When the skipped runs are of one workflow and there is no
audit row, that transaction is one statement, sent alone in autocommit mode; otherwise
the statements go out pipelined between BEGIN and COMMIT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from engine.execution.decisions import SKIPPED_LOG
from engine.execution.postgres_connection import autocommit, jsonb, pipeline, records

_EXECUTION_COLUMNS = (
    "id", "workflow_id", "workflow_version", "status", "trigger_type", "trigger_data",
    "created_at", "available_at", "started_at", "completed_at", "duration_ms", "retry_count",
    "next_step", "cancel_requested", "event_depth",
)  # fmt: skip
# The rows of one or more triggers (``grp``: a webhook request of a group commit, or the
# one trigger) in one statement, each group all or none: a group goes in only when every
# one of its rows' workflows is, at this statement, enabled at the row's version
# (engine/triggers/versioned_inserts.py has the same condition for every dialect). The
# rows come as one JSON array of objects (``records``). A row decided SKIPPED at ingress
# (engine/triggers/ingress.py) gets its log line from the same statement.
_INSERT_GROUPS = """
WITH wanted AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb)
        AS r(grp int, id varchar, workflow_id varchar, workflow_version int, status varchar,
            trigger_type varchar, trigger_data jsonb, created_at timestamptz,
            available_at timestamptz, started_at timestamptz, completed_at timestamptz,
            duration_ms float8, retry_count int, next_step int, cancel_requested bool,
            event_depth int)
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
    RETURNING id, status, completed_at, workflow_id
), skipped_logs AS (
    INSERT INTO workflow_execution_log (execution_id, level, message, data, step_index,
        "timestamp")
    SELECT id, 'INFO', %(skipped_log)s, NULL, NULL, completed_at FROM inserted
    WHERE status = 'SKIPPED'
)"""
# The skipped runs that went in, added to the counters of their one workflow
# (``skipped_workflow``; NULL: none skipped) as ``postgres_pipeline._ADD_COUNTERS`` does:
# execution_count and last_execution_at (no duration to average).
_SKIPPED_COUNTED = """, skipped_counted AS (
    UPDATE workflow SET
        execution_count = execution_count + s.n,
        last_execution_at = CASE WHEN last_execution_at IS NULL OR last_execution_at < s.latest
            THEN s.latest ELSE last_execution_at END
    FROM (SELECT count(*) AS n, max(completed_at) AS latest FROM inserted
          WHERE status = 'SKIPPED' AND workflow_id = %(skipped_workflow)s) AS s
    WHERE workflow.id = %(skipped_workflow)s AND s.n > 0
)"""
_INSERTED = "\nSELECT id FROM inserted\n"
_INSERT_ONE_STATEMENT = _INSERT_GROUPS + _SKIPPED_COUNTED + _INSERTED
_INSERT_PIPELINED = _INSERT_GROUPS + _INSERTED
# The skipped runs of one workflow that went in, added to its counters (as above), for a
# transaction whose skipped runs are of several workflows: one UPDATE each, in id order.
_ADD_SKIPPED = """
UPDATE workflow SET
    execution_count = execution_count + s.n,
    last_execution_at = CASE WHEN last_execution_at IS NULL OR last_execution_at < s.latest
        THEN s.latest ELSE last_execution_at END
FROM (SELECT count(*) AS n, max(completed_at) AS latest FROM workflow_execution
      WHERE id = ANY(%(ids)s::varchar[])) AS s
WHERE workflow.id = %(workflow_id)s AND s.n > 0
"""
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
    """The rows of several triggers in one transaction and one round trip: one INSERT
    (each group all or none; skipped runs' log lines with it) and the skipped runs'
    counters, as one statement in autocommit when the skipped runs are of one workflow and
    there is no audit row; otherwise pipelined: BEGIN, the INSERT, the skipped runs'
    counters (one UPDATE per workflow, in id order), the audit row, COMMIT.

    Returns, per group, whether its rows went in. ``audit`` goes in with the first group's
    rows (callers with an audit row pass one group).
    """
    rows = [row for group in groups for row in group]
    if not rows:
        return [True] * len(groups)
    skipped: dict[str, list[str]] = {}
    for row in rows:
        if row["status"] == "SKIPPED":
            skipped.setdefault(row["workflow_id"], []).append(row["id"])
    params: dict[str, Any] = {
        "rows": records([
            {**{name: row.get(name) for name in _EXECUTION_COLUMNS}, "grp": number}
            for number, group in enumerate(groups) for row in group
        ]),
        "skipped_log": SKIPPED_LOG,
    }  # fmt: skip
    if audit is None and len(skipped) <= 1:
        params["skipped_workflow"] = next(iter(skipped), None)
        with autocommit(conn) as raw, raw.cursor() as cursor:
            cursor.execute(_INSERT_ONE_STATEMENT, params)
            inserted = {row[0] for row in cursor.fetchall()}
        return [all(row["id"] in inserted for row in group) for group in groups]
    with pipeline(conn) as raw:
        cursor, insert = raw.cursor(), raw.cursor()
        cursor.execute("BEGIN")
        insert.execute(_INSERT_PIPELINED, params)
        for workflow_id in sorted(skipped):
            cursor.execute(_ADD_SKIPPED, {"ids": skipped[workflow_id], "workflow_id": workflow_id})
        if audit is not None:
            details = jsonb(audit["details"])
            first = groups[0][0]["id"] if groups[0] else rows[0]["id"]
            cursor.execute(_INSERT_AUDIT, {**audit, "details": details, "first_id": first})
        cursor.execute("COMMIT")
        inserted = {row[0] for row in insert.fetchall()}
    return [all(row["id"] in inserted for row in group) for group in groups]
