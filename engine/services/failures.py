"""Failed executions grouped into clusters: same workflow, failing action and error signature.

Only the failures created inside a time window are read, through the partial index of
FAILED rows (``idx_execution_failed_signature``), so a refresh costs the same at a
million executions as at a thousand. Each FAILED row carries its error signature,
normalised once by the worker that wrote the failure (``error_signature``). A read first
takes the (workflow, version, step) triples the window's failures stopped at and names
each one's failing action from the definitions; those go back to the database as a
table of values, so it merges the rows of one cluster (count, first and last sighting,
newest id), ranks the clusters in the service's order and returns only the first
``limit`` (issue 15: 100,000 distinct signatures in a day no longer travel to Python).
Python then reads one sample message per cluster shown. Rows without a stored signature
(none after migration 0008) are grouped by their raw error and normalised here, as
before, and merged with the signed clusters they share a signature with.

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
from engine.execution.claims import EXECUTIONS, WORKFLOWS, E, W
from engine.execution.error_signature import MAX_INPUT, classify_error, normalise_error
from engine.models import ExecutionStatus, WorkflowVersion, table_of
from engine.services.control import retry_executions
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
MAX_STOPS: Final = 2000
"""Most (workflow, version, step) triples handed to the ranking query as values."""
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
    """One full error message of the cluster, as stored (its newest failure's)."""

    @property
    def action_type(self) -> str:
        """The action type of the failing step (``NO_ACTION`` when no step failed)."""
        return self.key.action_type

    @property
    def signature(self) -> str:
        """The normalised error shared by every execution of the cluster."""
        return self.key.signature


# A literal, not a bound parameter: SQLite uses a partial index only for a WHERE it can
# match against the index's own, and the failure index holds FAILED rows alone.
_FAILED_ROW = E.status == sa.literal_column(f"'{FAILED}'")


@dataclass(frozen=True)
class _Group:
    """The window's failures of one workflow version, stopping step and signature."""

    workflow_id: str
    workflow_version: int
    next_step: int
    signature: str
    count: int
    first_seen: datetime
    last_seen: datetime
    sample_id: str
    """The newest failure of the group (ids are time-ordered UUIDv7)."""


def _byte_order(conn: sa.Connection, column: Any) -> Any:
    # PostgreSQL compares text by the database's locale; grouping and max() need no more
    # than byte order, which is much cheaper.
    return column.collate("C") if conn.dialect.name == "postgresql" else column


def _window_rows(since: datetime, *, stored: bool) -> tuple[Any, ...]:
    signed = E.error_signature.is_not(None) if stored else E.error_signature.is_(None)
    return (_FAILED_ROW, E.created_at >= since, signed)


def _unsigned_groups(conn: sa.Connection, since: datetime) -> list[_Group]:
    """The window's failures without a stored signature (written before it existed and
    not backfilled), grouped by their error text and normalised here, one distinct text
    at a time."""
    text = _byte_order(conn, sa.func.substr(sa.func.coalesce(E.error, ""), 1, MAX_INPUT))
    key = (E.workflow_id, E.workflow_version, E.next_step, text)
    query = (
        sa.select(*key[:3], text.label("text"), *_aggregates(conn))
        .where(*_window_rows(since, stored=False))
        .group_by(*key)
    )
    return [
        _Group(
            row.workflow_id, row.workflow_version, row.next_step,
            normalise_error(row.text) or "", row.failures, row.first_seen, row.last_seen,
            row.sample_id,
        )
        for row in conn.execute(query)
    ]  # fmt: skip


def _aggregates(conn: sa.Connection) -> tuple[Any, ...]:
    seen = sa.func.coalesce(E.completed_at, E.created_at)
    return (
        sa.func.count().label("failures"),
        sa.func.min(seen).label("first_seen"),
        sa.func.max(seen).label("last_seen"),
        sa.func.max(_byte_order(conn, E.id)).label("sample_id"),
    )


def _stopping_points(conn: sa.Connection, since: datetime) -> list[tuple[str, int, int]]:
    """Every (workflow, version, step) the window's failures stopped at (index-only)."""
    query = (
        sa.select(E.workflow_id, E.workflow_version, E.next_step)
        .where(_FAILED_ROW, E.created_at >= since)
        .distinct()
    )
    return [(row.workflow_id, row.workflow_version, row.next_step) for row in conn.execute(query)]


def _ranked_signed(
    conn: sa.Connection,
    since: datetime,
    actions: dict[tuple[str, int, int], str],
    names: dict[str, str],
    *,
    limit: int | None,
    signatures: Sequence[str] = (),
) -> list[tuple[ClusterKey, list[Any]]]:
    """Clusters of the window's signed failures, merged and ranked by the database.

    Each (workflow, version, step) the failures stopped at comes in as a row of values
    naming its cluster slot (one per workflow and failing action) and the workflow name's
    place in code-point order, so the database groups by two small keys, orders exactly
    as ``_ranked`` does (most failures, newest sighting, workflow name, signature) and
    returns only the first ``limit``; with ``signatures`` it returns those clusters,
    unranked.
    """
    slots = sorted({(workflow_id, action) for (workflow_id, _, _), action in actions.items()})
    slot_of = {pair: number for number, pair in enumerate(slots)}
    ordered = sorted({names.get(workflow_id, "?") for workflow_id, _ in slots})
    name_rank = {name: rank for rank, name in enumerate(ordered)}
    stops = sa.values(
        sa.column("workflow_id", sa.String), sa.column("workflow_version", sa.Integer),
        sa.column("next_step", sa.Integer), sa.column("slot", sa.Integer),
        sa.column("name_rank", sa.Integer), name="stops",
    ).data([
        (*point, slot_of[(point[0], action)], name_rank[names.get(point[0], "?")])
        for point, action in actions.items()
    ]).cte("stops")  # fmt: skip
    signature = _byte_order(conn, E.error_signature)
    where = _window_rows(since, stored=True)
    if signatures:
        where += (E.error_signature.in_(signatures),)
    aggregates = _aggregates(conn)
    failures, last_seen = aggregates[0], aggregates[2]
    query = (
        sa.select(stops.c.slot, signature.label("signature"), *aggregates)
        .select_from(EXECUTIONS)
        .join(stops, sa.and_(stops.c.workflow_id == E.workflow_id,
                             stops.c.workflow_version == E.workflow_version,
                             stops.c.next_step == E.next_step))
        .where(*where)
        .group_by(stops.c.slot, stops.c.name_rank, signature)
    )  # fmt: skip
    if conn.dialect.name == "postgresql":
        # A window of distinct messages has about as many groups as rows: hashing them
        # beats sorting them first (and a parallel plan merging 100,000 partial groups),
        # ~1.5x at 100,000 signatures. The top-N sort at the end still runs.
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
    if limit is not None:
        query = query.order_by(
            failures.element.desc(), last_seen.element.desc(), stops.c.name_rank, signature
        ).limit(limit)
    clusters = []
    for row in conn.execute(query):
        workflow_id, action = slots[row.slot]
        clusters.append(
            (
                ClusterKey(workflow_id, action, row.signature),
                [int(row.failures), row.first_seen, row.last_seen, row.sample_id],
            )
        )
    return clusters  # fmt: skip


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
        # One snapshot for the statements of a read (stopping points, then groups).
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
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
    limit = max(1, limit)
    with db.read_engine.connect() as conn:
        _tune(conn)
        points = _stopping_points(conn, since)
        definitions = _Definitions(conn, ((w, v) for w, v, _ in points))
        actions = {point: definitions.action_type(*point) for point in points}
        unsigned = _unsigned_groups(conn, since)
        touched = sorted({group.signature for group in unsigned})
        if not actions:
            ranked = []
        elif len(actions) > MAX_STOPS or len(touched) > CHUNK:
            # Too many stopping points to hand over as values, or unsigned rows of too
            # many signatures to look up one by one: every group is merged here.
            ranked = _merged_here(conn, since, actions, definitions.names, unsigned, limit)
        else:
            ranked = _ranked_signed(conn, since, actions, definitions.names, limit=limit)
            if unsigned:
                ranked = _with_unsigned(
                    conn, since, actions, definitions.names, ranked, unsigned, limit
                )
        samples = _sample_errors(conn, [cluster[3] for _, cluster in ranked])
    result = []
    for key, (count, first, last, sample_id) in ranked:
        sample = samples.get(sample_id, "")
        result.append(FailureCluster(
            key=key, workflow=definitions.names.get(key.workflow_id, "?"), count=count,
            first_seen=_utc(first), last_seen=_utc(last), transient=classify_error(sample),
            sample_error=sample,
        ))  # fmt: skip
    return result


def _with_unsigned(
    conn: sa.Connection,
    since: datetime,
    actions: dict[tuple[str, int, int], str],
    names: dict[str, str],
    ranked: list[tuple[ClusterKey, list[Any]]],
    unsigned: list[_Group],
    limit: int,
) -> list[tuple[ClusterKey, list[Any]]]:
    """The signed top ``limit`` with the unsigned groups merged in.

    Merging only adds failures and later sightings to a cluster, so the top ``limit``
    of all clusters lie among the signed top ``limit`` and the clusters the unsigned
    groups touch (at most ``CHUNK`` signatures); those are read in full before ranking
    again.
    """
    merged = dict(ranked)
    touched = sorted({group.signature for group in unsigned})
    merged.update(_ranked_signed(conn, since, actions, names, limit=None, signatures=touched))
    for group in unsigned:
        _add(merged, _key(group, actions), group)
    return _ranked(merged, names, limit)


def _merged_here(
    conn: sa.Connection,
    since: datetime,
    actions: dict[tuple[str, int, int], str],
    names: dict[str, str],
    unsigned: list[_Group],
    limit: int,
) -> list[tuple[ClusterKey, list[Any]]]:
    """Every signed group read and merged in Python with the unsigned ones."""
    signature = _byte_order(conn, E.error_signature)
    key = (E.workflow_id, E.workflow_version, E.next_step, signature)
    query = (
        sa.select(*key[:3], signature.label("signature"), *_aggregates(conn))
        .where(*_window_rows(since, stored=True))
        .group_by(*key)
    )
    merged: dict[ClusterKey, list[Any]] = {}
    for group in [_Group(*row) for row in conn.execute(query)] + unsigned:
        _add(merged, _key(group, actions), group)
    return _ranked(merged, names, limit)


def _key(group: _Group, actions: dict[tuple[str, int, int], str]) -> ClusterKey:
    point = (group.workflow_id, group.workflow_version, group.next_step)
    # A failure newer than the stopping points read first has no entry: no action known.
    return ClusterKey(group.workflow_id, actions.get(point, NO_ACTION), group.signature)


def _add(merged: dict[ClusterKey, list[Any]], key: ClusterKey, group: _Group) -> None:
    cluster = merged.get(key)
    if cluster is None:
        merged[key] = [group.count, group.first_seen, group.last_seen, group.sample_id]
        return
    cluster[0] += group.count
    cluster[1] = min(cluster[1], group.first_seen)
    cluster[2] = max(cluster[2], group.last_seen)
    cluster[3] = max(cluster[3], group.sample_id)


def _ranked(
    merged: dict[ClusterKey, list[Any]], names: dict[str, str], limit: int
) -> list[tuple[ClusterKey, list[Any]]]:
    """The service's order: most failures, newest sighting, workflow name, signature."""
    return sorted(
        merged.items(),
        key=lambda item: (
            -item[1][0], -_utc(item[1][2]).timestamp(), names.get(item[0].workflow_id, "?"),
            item[0].signature,
        ),
    )[:limit]  # fmt: skip


def _sample_errors(conn: sa.Connection, ids: Sequence[str]) -> dict[str, str]:
    """The error text of each of ``ids`` (cut to what the signature reads)."""
    error = sa.func.substr(sa.func.coalesce(E.error, ""), 1, MAX_INPUT)
    samples: dict[str, str] = {}
    for part in _chunks(ids):
        for row in conn.execute(sa.select(E.id, error.label("error")).where(E.id.in_(part))):
            samples[row.id] = row.error
    return samples


def cluster_execution_ids(db: Database, key: ClusterKey, *, since: datetime) -> list[str]:
    """The FAILED executions of one cluster created since ``since``, newest first."""
    raw = sa.case(
        (E.error_signature.is_(None), sa.func.substr(sa.func.coalesce(E.error, ""), 1, MAX_INPUT)),
        else_=None,
    )
    query = (
        sa.select(E.id, E.workflow_id, E.workflow_version, E.next_step, E.error_signature,
                  raw.label("error"))
        .where(
            _FAILED_ROW,
            E.created_at >= since,
            E.workflow_id == key.workflow_id,
            sa.or_(E.error_signature == key.signature, E.error_signature.is_(None)),
        )
        .order_by(E.created_at.desc(), E.id.desc())
    )  # fmt: skip
    with db.read_engine.connect() as conn:
        _tune(conn)
        rows = conn.execute(query).all()
        definitions = _Definitions(conn, ((r.workflow_id, r.workflow_version) for r in rows))
    return [
        row.id
        for row in rows
        if (row.error_signature if row.error_signature is not None else normalise_error(row.error))
        == key.signature
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
