"""PostgreSQL's cleanup batch: the oldest rows first, walking an index from where the last
batch stopped.

Deleted rows stay in the heap and the indexes until VACUUM, so a batch that looked for
"any old row" again from the start would step over every row already deleted: each
batch slower than the last (and a plain ``IN (subquery)`` lets the planner hash-join a
sequential scan of the whole table). Here each batch walks one index in order — log
lines by ``idx_log_timestamp``, executions by ``idx_execution_created (created_at, id)``
with the status tested on the row — starting at the newest time the previous batch
took (``>=``, so rows sharing that time are not skipped), locks what it picks with
``FOR UPDATE SKIP LOCKED`` (a row another transaction holds is left for the next run),
and deletes by primary key (``= ANY(ARRAY(…))``, an index probe per row whatever the
planner thinks of the row count).

Every batch is one short transaction that gives up on a lock after ``LOCK_TIMEOUT_MS``,
is cancelled after ``STATEMENT_TIMEOUT_MS``, and does not wait for its WAL flush: a batch
lost in a crash is deleted again by the next run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from engine.db import Database

EARLIEST = datetime.min.replace(tzinfo=UTC)
LOCK_TIMEOUT_MS = 100
STATEMENT_TIMEOUT_MS = 5000
SETTINGS = (
    f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}; "
    f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}; "
    "SET LOCAL synchronous_commit = off"
)

_OLDEST = """
WITH picked AS (
    SELECT id, {at} AS at FROM {table}
    WHERE {at} < :before AND {at} >= :after{condition}
    ORDER BY {at} LIMIT :size FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM {table} WHERE id = ANY(ARRAY(SELECT id FROM picked)) RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT max(at) FROM picked)
"""
LOGS = sa.text(_OLDEST.format(table="workflow_execution_log", at='"timestamp"', condition=""))
EXECUTIONS = sa.text(
    _OLDEST.format(
        table="workflow_execution", at="created_at", condition=" AND status IN :finished"
    )
).bindparams(sa.bindparam("finished", expanding=True))


@dataclass
class OldestFirst:
    """Deletes the oldest rows before ``before``, a batch per call, resuming each time."""

    db: Database
    statement: sa.TextClause
    before: datetime
    params: dict[str, Any] = field(default_factory=dict)
    after: datetime = EARLIEST

    def __call__(self, size: int) -> int:
        """Delete up to ``size`` rows in one transaction; returns how many went."""
        with self.db.engine.begin() as conn:
            conn.exec_driver_sql(SETTINGS)
            deleted, last = conn.execute(
                self.statement,
                {"before": self.before, "after": self.after, "size": size, **self.params},
            ).one()
        if last is not None:
            self.after = last
        return int(deleted)
