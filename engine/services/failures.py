"""Failed executions grouped into clusters: same workflow, failing action and error signature.

Only the failures created inside a time window are read, through the (status,
created_at) index, so a refresh costs the same at a million executions as at a
thousand. The database groups the window's rows by workflow, definition version, the
step the run stopped at, and raw error (cut to the part the signature reads); Python
then normalises each distinct error once (cached) and merges the groups whose
signatures agree.

The failing action is the action at the execution's ``next_step`` in the definition
version it ran: that is where the executor stopped, and the FAILED step row it wrote
there takes its ``action_type`` from that same definition. Reading one definition per
(workflow, version) instead of one step row per execution keeps the scan on the
execution index, and also names the action for failures that left no step row (a lost
worker, the workflow timeout). Without a saved version the workflow's current definition
answers; past its last action the type is ``NO_ACTION``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa

from engine.db import Database
from engine.execution.claims import WORKFLOWS, E, W
from engine.models import ExecutionStatus, WorkflowVersion, table_of
from engine.services.control import retry_executions
from engine.services.error_signature import MAX_INPUT, classify_error, normalise_error
from engine.services.executions import ExecutionRow
from engine.triggers.new_executions import Dispatcher

__all__ = [
    "NO_ACTION",
    "WINDOWS",
    "ClusterKey",
    "FailureCluster",
    "classify_error",
    "cluster_execution_ids",
    "cluster_executions",
    "list_failure_clusters",
    "normalise_error",
    "retry_failed",
    "window_start",
]

NO_ACTION: Final = "—"
"""The action type of a failure that happened outside any step (e.g. a lost worker)."""
WINDOWS: Final = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
"""The time windows the console offers, in the order it cycles through them."""
FAILED: Final = ExecutionStatus.FAILED.value
CHUNK: Final = 500
V = table_of(WorkflowVersion).c


@dataclass(frozen=True)
class ClusterKey:
    """What the failures of one cluster share."""

    workflow_id: str
    action_type: str
    signature: str


@dataclass(frozen=True)
class FailureCluster:
    """Failed executions of one workflow that failed the same way in the same kind of step."""

    key: ClusterKey
    workflow: str
    count: int
    first_seen: datetime
    last_seen: datetime
    transient: bool
    """True when the error looks like it may go away on retry (see ``classify_error``)."""
    sample_error: str
    """One full error message of the cluster, as stored (its most common raw form)."""

    @property
    def action_type(self) -> str:
        """The action type of the failing step (``NO_ACTION`` when no step failed)."""
        return self.key.action_type

    @property
    def signature(self) -> str:
        """The normalised error shared by every execution of the cluster."""
        return self.key.signature


def _window_rows(conn: sa.Connection, since: datetime, workflow_id: str | None = None) -> Any:
    """The failures created since ``since``, with the error cut to what the signature reads."""
    error: Any = sa.func.substr(sa.func.coalesce(E.error, ""), 1, MAX_INPUT)
    if conn.dialect.name == "postgresql":
        error = error.collate("C")  # byte order: grouping needs no locale-aware comparisons
    query = sa.select(
        E.id,
        E.workflow_id,
        E.workflow_version,
        E.next_step,
        E.created_at,
        sa.func.coalesce(E.completed_at, E.created_at).label("seen_at"),
        error.label("error"),
    ).where(E.status == FAILED, E.created_at >= since)
    if workflow_id is not None:
        query = query.where(E.workflow_id == workflow_id)
    return query


class _Definitions:
    """Workflow names and the action types of the definitions the window's failures ran."""

    def __init__(self, conn: sa.Connection, versions: Iterable[tuple[str, int]]) -> None:
        pairs = set(versions)
        workflow_ids = sorted({workflow_id for workflow_id, _ in pairs})
        self.names: dict[str, str] = {}
        self.current: dict[str, list[str]] = {}
        self.versions: dict[tuple[str, int], list[str]] = {}
        for part in _chunks(workflow_ids):
            for row in conn.execute(sa.select(W.id, W.name, W.actions).where(W.id.in_(part))):
                self.names[row.id] = row.name
                self.current[row.id] = _types(row.actions)
            query = sa.select(V.workflow_id, V.version, V.definition).where(V.workflow_id.in_(part))
            for row in conn.execute(query):
                if (row.workflow_id, row.version) in pairs:
                    definition = row.definition if isinstance(row.definition, dict) else {}
                    self.versions[(row.workflow_id, row.version)] = _types(
                        definition.get("actions")
                    )

    def action_type(self, workflow_id: str, version: int, next_step: int) -> str:
        """The type of the action the execution stopped at."""
        actions = self.versions.get((workflow_id, version), self.current.get(workflow_id, []))
        return actions[next_step] if 0 <= next_step < len(actions) else NO_ACTION


def _types(actions: Any) -> list[str]:
    if not isinstance(actions, list):
        return []
    return [str(a.get("type", NO_ACTION)) if isinstance(a, dict) else NO_ACTION for a in actions]


def _tune(conn: sa.Connection) -> None:
    """Settings for this transaction's one-off scan of a window on PostgreSQL."""
    if conn.dialect.name == "postgresql":
        # Compiling the query (JIT) costs more than it saves here, and grouping by error
        # text wants more than the default 4 MB of sort memory before it spills to disk.
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; the storage convention is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def list_failure_clusters(
    db: Database, *, since: datetime, limit: int = 500
) -> list[FailureCluster]:
    """Clusters of the failures created since ``since``, most failures first."""
    with db.read_engine.connect() as conn:
        _tune(conn)
        rows = _window_rows(conn, since).subquery()
        columns = (rows.c.workflow_id, rows.c.workflow_version, rows.c.next_step, rows.c.error)
        groups = conn.execute(
            sa.select(
                *columns,
                sa.func.count().label("count"),
                sa.func.min(rows.c.seen_at).label("first_seen"),
                sa.func.max(rows.c.seen_at).label("last_seen"),
            ).group_by(*columns)
        ).all()
        definitions = _Definitions(conn, ((g.workflow_id, g.workflow_version) for g in groups))
    clusters: dict[ClusterKey, list[Any]] = {}
    for group in groups:
        action = definitions.action_type(group.workflow_id, group.workflow_version, group.next_step)
        key = ClusterKey(group.workflow_id, action, normalise_error(group.error))
        merged = clusters.get(key)
        if merged is None:
            name = definitions.names.get(group.workflow_id, "?")
            clusters[key] = [name, group.count, group.first_seen, group.last_seen, group]
            continue
        merged[1] += group.count
        merged[2] = min(merged[2], group.first_seen)
        merged[3] = max(merged[3], group.last_seen)
        sample = merged[4]
        if (group.count, group.last_seen) > (sample.count, sample.last_seen):
            merged[4] = group  # the most common raw form speaks, the newest of equals
    result = [
        FailureCluster(
            key=key,
            workflow=name,
            count=count,
            first_seen=_utc(first),
            last_seen=_utc(last),
            transient=classify_error(sample.error),
            sample_error=sample.error,
        )
        for key, (name, count, first, last, sample) in clusters.items()
    ]
    result.sort(key=lambda c: (-c.count, -c.last_seen.timestamp(), c.workflow, c.signature))
    return result[: max(1, limit)]


def cluster_execution_ids(db: Database, key: ClusterKey, *, since: datetime) -> list[str]:
    """The FAILED executions of one cluster created since ``since``, newest first."""
    with db.read_engine.connect() as conn:
        _tune(conn)
        query = _window_rows(conn, since, key.workflow_id)
        rows = conn.execute(query.order_by(E.created_at.desc(), E.id.desc())).all()
        definitions = _Definitions(conn, ((r.workflow_id, r.workflow_version) for r in rows))
    return [
        row.id
        for row in rows
        if normalise_error(row.error) == key.signature
        and definitions.action_type(row.workflow_id, row.workflow_version, row.next_step)
        == key.action_type
    ]


def cluster_executions(db: Database, ids: Sequence[str]) -> list[ExecutionRow]:
    """The executions ``ids`` as list rows, in the order given (missing ones left out)."""
    rows: dict[str, ExecutionRow] = {}
    with db.read_engine.connect() as conn:
        for part in _chunks(ids):
            query = (
                sa.select(
                    E.id, W.name.label("workflow"), E.status, E.trigger_type, E.created_at,
                    E.started_at, E.completed_at, E.duration_ms, E.retry_count, E.error,
                )
                .join(WORKFLOWS, W.id == E.workflow_id)
                .where(E.id.in_(part))
            )  # fmt: skip
            rows.update((row.id, ExecutionRow(**row._asdict())) for row in conn.execute(query))
    return [rows[i] for i in ids if i in rows]


def retry_failed(db: Database, queue: Dispatcher, ids: Sequence[str], *, actor: str) -> list[str]:
    """Retry those of ``ids`` that are still retryable; ``actor`` needs OPERATE.

    Goes through ``control.retry_executions`` a chunk at a time (a cluster can hold more
    ids than one statement takes): PENDING with retry_count + 1 and one audit row per
    execution in the chunk's transaction, then enqueued. Ids that changed since the
    preview are left alone. Raises ``PermissionDenied`` before changing anything when
    the actor's stored role may not retry. Returns the ids retried.
    """
    retried: list[str] = []
    for part in _chunks(ids):
        retried += retry_executions(db, queue, part, actor=actor, strict=False, check_role=True)
    return retried


def _chunks(ids: Sequence[str], size: int = CHUNK) -> Iterator[list[str]]:
    """``ids`` in lists short enough for one IN (...) on every database."""
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def window_start(now: datetime, window: str) -> datetime:
    """The start of ``window`` (a key of ``WINDOWS``) ending at ``now``."""
    return now - WINDOWS[window]
