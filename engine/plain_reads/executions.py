"""Executions as lists show them, newest first, in pages of plain SQL.

``executions list`` streams these (``--limit``, ``--all``, ``--before`` / ``--after``,
``--status``, ``--workflow``); the console and the REST API, whose filters go further
(``engine.services.executions.list_executions``), show the same ``ExecutionRow``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.plain_reads.reader import Reader, utc
from engine.statuses import ExecutionStatus

MAX_PAGE = 1000
"""Rows read per query."""
STATUSES = tuple(status.value for status in ExecutionStatus)


@dataclass(frozen=True)
class ExecutionRow:
    """One execution as lists show it."""

    id: str
    workflow: str
    status: str
    trigger_type: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: float | None
    retry_count: int
    error: str | None
    waiting: str | None = None
    """Why a PENDING run has not started: "paused" (its workflow is), "limit" (a
    concurrency or rate limit holds it), "destination" (a held destination), "retry" (its
    retry is not due yet); None otherwise (see ``waiting_reason``)."""

    def as_json(self) -> dict[str, Any]:
        """The contract's JSON shape for ``executions list --json``."""
        return {
            "id": self.id,
            "workflow": self.workflow,
            "status": self.status,
            "trigger_type": self.trigger_type,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "completed_at": _iso(self.completed_at),
            "duration_ms": self.duration_ms,
            "retry_count": self.retry_count,
            "error": self.error,
            "waiting": self.waiting,
        }


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the (created_at, id) of its last row."""

    created_at: datetime
    id: str


class ExecutionNotFound(LookupError):
    """No execution has that id."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"no execution with id {execution_id!r}")
        self.execution_id = execution_id


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def waiting_reason(
    status: str,
    stored: str | None,
    retry_count: int,
    available_at: datetime | None,
    paused: bool,
    now: datetime,
) -> str | None:
    """``waiting`` as lists show it: paused first, then the stored reason, then a retry."""
    if status != "PENDING":
        return None
    if paused:
        return "paused"
    if stored is not None:
        return stored
    if retry_count > 0 and available_at is not None and available_at > now:
        return "retry"
    return None


_SELECT = (
    "SELECT e.id, w.name, e.status, e.trigger_type, e.created_at, e.started_at,"
    " e.completed_at, e.duration_ms, e.retry_count, e.error, e.waiting, e.available_at,"
    " w.paused_at FROM workflow_execution AS e JOIN workflow AS w ON w.id = e.workflow_id"
)


def iter_executions(
    reader: Reader,
    *,
    limit: int | None,
    before: str | None = None,
    after: str | None = None,
    status: str | None = None,
    workflow: str | None = None,
) -> Iterator[ExecutionRow]:
    """Every matching execution up to ``limit`` (None: all), a page per query.

    Newest first, continuing past the execution ``before`` when given; with ``after``, the
    executions created after that one, oldest first. ``workflow`` is an exact name.
    Raises ExecutionNotFound for an unknown cursor id, ValueError for an unknown status.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"status: unknown status {status!r}")
    conditions, params = [], {}
    if status is not None:
        conditions.append("e.status = :status")
        params["status"] = status
    if workflow is not None:
        # Names are unique: the scan stays on the (workflow_id, created_at, id) index.
        workflow_id = reader.value("SELECT id FROM workflow WHERE name = :name", {"name": workflow})
        if workflow_id is None:
            return
        conditions.append("e.workflow_id = :workflow_id")
        params["workflow_id"] = workflow_id
    ascending = after is not None
    cursor = _stored_cursor(reader, after if ascending else before)
    order = "ASC" if ascending else "DESC"
    left = limit
    while left is None or left > 0:
        size = MAX_PAGE if left is None else min(left, MAX_PAGE)
        where = list(conditions)
        if cursor is not None:
            # A row-value comparison is an index condition on (…, created_at, id): a deep
            # page starts at its cursor instead of filtering every newer row.
            where.append(f"(e.created_at, e.id) {'>' if ascending else '<'} (:at, :id)")
            params.update(at=cursor[0], id=cursor[1])
        sql = (
            _SELECT
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY e.created_at {order}, e.id {order} LIMIT {size:d}"
        )
        page = reader.rows(sql, params)
        now = datetime.now(UTC)
        yield from (_listed(row, now) for row in page)
        if len(page) < size:
            return
        cursor = (page[-1][4], page[-1][0])  # as stored: compared as the database compares
        if left is not None:
            left -= len(page)


def _stored_cursor(reader: Reader, execution_id: str | None) -> tuple[Any, str] | None:
    if execution_id is None:
        return None
    created_at = reader.value(
        "SELECT created_at FROM workflow_execution WHERE id = :id", {"id": execution_id}
    )
    if created_at is None:
        raise ExecutionNotFound(execution_id)
    return created_at, execution_id


def _listed(row: Sequence[Any], now: datetime) -> ExecutionRow:
    (id_, workflow, status, trigger_type, created_at, started_at, completed_at, duration_ms,
     retry_count, error, stored, available_at, paused_at) = row  # fmt: skip
    created = utc(created_at)
    assert created is not None  # the column is NOT NULL
    return ExecutionRow(
        id_, workflow, status, trigger_type, created, utc(started_at), utc(completed_at),
        duration_ms, retry_count, error,
        waiting_reason(status, stored, retry_count, utc(available_at), paused_at is not None, now),
    )  # fmt: skip
