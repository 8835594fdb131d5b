"""Execution queries for the console, CLI and API: newest first, keyset-paginated."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from engine.core_tables import EXECUTION, STATUSES, WORKFLOW
from engine.db import Database
from engine.plain_reads import executions as plain
from engine.plain_reads.executions import Cursor as Cursor
from engine.plain_reads.executions import ExecutionNotFound as ExecutionNotFound
from engine.plain_reads.executions import ExecutionRow as ExecutionRow
from engine.plain_reads.executions import waiting_reason
from engine.plain_reads.reader import Reader

if TYPE_CHECKING:
    from engine.models import WorkflowExecution
    from engine.services.payload_search import Where

MAX_PAGE = plain.MAX_PAGE
E, W = EXECUTION.c, WORKFLOW.c
_LISTED = (
    E.id, W.name, E.status, E.trigger_type, E.created_at, E.started_at, E.completed_at,
    E.duration_ms, E.retry_count, E.error, E.waiting, E.available_at, W.paused_at,
)  # fmt: skip
ERROR_SEARCH_TIMEOUT_MS = 5000
"""PostgreSQL stops an error-text search that found too little after this long."""


class SearchTooBroad(Exception):
    """An error-text search read too many rows without filling a page."""

    def __init__(self, timeout_ms: int) -> None:
        super().__init__(
            f"the error search found too little in {timeout_ms / 1000:g} s; narrow it with"
            " since:, status:, trigger: or workflow:"
        )


@dataclass(frozen=True)
class StepRecord:
    """One finished step of an execution."""

    step_index: int
    action_type: str
    status: str
    result: dict[str, Any] | None
    error: str | None
    attempt: int
    duration_ms: float


@dataclass(frozen=True)
class LogLine:
    """One log row of an execution."""

    timestamp: datetime
    level: str
    message: str
    step_index: int | None
    data: dict[str, Any] | None


@dataclass(frozen=True)
class ExecutionDetail:
    """Everything the detail view shows about one execution."""

    row: ExecutionRow
    trigger_data: dict[str, Any]
    result: dict[str, Any] | None
    available_at: datetime
    worker_id: str | None
    steps: list[StepRecord]
    logs: list[LogLine]


def _row(execution: WorkflowExecution, workflow_name: str, *, paused: bool = False) -> ExecutionRow:
    return ExecutionRow(
        id=execution.id,
        workflow=workflow_name,
        status=execution.status,
        trigger_type=execution.trigger_type,
        created_at=execution.created_at,
        started_at=execution.started_at,
        completed_at=execution.completed_at,
        duration_ms=execution.duration_ms,
        retry_count=execution.retry_count,
        error=execution.error,
        waiting=waiting_reason(
            execution.status,
            execution.waiting,
            execution.retry_count,
            execution.available_at,
            paused,
            datetime.now(UTC),
        ),
    )


def list_executions(
    db: Database,
    *,
    status: str | None = None,
    workflow: str | None = None,
    workflow_contains: str | None = None,
    trigger_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    error_contains: str | None = None,
    limit: int = 50,
    after: Cursor | None = None,
    newer_than: Cursor | None = None,
    where: Where | None = None,
) -> list[ExecutionRow]:
    """Executions newest first; pass the last row's cursor as ``after`` for the next page.

    ``newer_than`` instead lists the executions created after a cursor, oldest first (what
    came since): pass the last row's cursor again for the next page. A page holds at most
    ``MAX_PAGE`` rows; ``iter_executions`` streams any number of them.

    ``workflow`` is an exact name, ``workflow_contains`` a case-insensitive part of one
    (both are resolved to ids in the small workflow table first, so the execution scan
    stays on its ``(workflow_id, created_at, id)`` index). ``since`` is inclusive,
    ``until`` exclusive, both on ``created_at``. ``error_contains`` is a case-insensitive
    substring of the error: no index serves it, so it reads newest first and stops at
    ``limit`` matches (see ``ERROR_SEARCH_TIMEOUT_MS`` for the bound on PostgreSQL).
    ``where`` is a payload search (``engine.services.payload_search``), bounded the same
    way unless an index serves it.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"status: unknown status {status!r}")
    limit = max(1, min(limit, MAX_PAGE))
    # Core over the lightweight tables: no ORM objects, and no model classes to build at
    # the start of a command that lists a few rows.
    with db.read_engine.connect() as conn:
        workflow_ids = _workflow_ids(conn, workflow, workflow_contains)
        if workflow_ids is not None and not workflow_ids:
            return []
        query = sa.select(*_LISTED).select_from(EXECUTION.join(WORKFLOW, W.id == E.workflow_id))
        if workflow_ids is not None:
            query = query.where(E.workflow_id.in_(workflow_ids))
        if status is not None:
            query = query.where(E.status == status)
        if trigger_type is not None:
            query = query.where(E.trigger_type == trigger_type)
        if since is not None:
            query = query.where(E.created_at >= since)
        if until is not None:
            query = query.where(E.created_at < until)
        if where:
            from engine.services.payload_search import where_clause  # only when searching

            columns = {"trigger": E.trigger_data, "result": E.result, "error": E.error}
            query = query.where(where_clause(where, conn.dialect.name, columns))
        if error_contains or where:
            if error_contains:
                query = query.where(E.error.icontains(error_contains, autoescape=True))
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ERROR_SEARCH_TIMEOUT_MS}")
        key = sa.tuple_(E.created_at, E.id)
        if after is not None:
            # A row-value comparison is an index condition on (…, created_at, id), so a
            # deep page starts at its cursor instead of filtering every newer row.
            query = query.where(key < (after.created_at, after.id))
        if newer_than is not None:
            query = query.where(key > (newer_than.created_at, newer_than.id)).order_by(
                E.created_at, E.id
            )
        else:
            query = query.order_by(E.created_at.desc(), E.id.desc())
        query = query.limit(limit)
        try:
            return [_listed(row) for row in conn.execute(query)]
        except OperationalError as exc:
            if (error_contains or where) and "statement timeout" in str(exc):
                raise SearchTooBroad(ERROR_SEARCH_TIMEOUT_MS) from None
            raise


def iter_executions(
    db: Database,
    *,
    limit: int | None,
    before: str | None = None,
    after: str | None = None,
    where: Where | None = None,
    **filters: Any,
) -> Iterator[ExecutionRow]:
    """Every matching execution up to ``limit`` (None: all), streamed a page at a time.

    Newest first, continuing past the execution ``before`` when given; with ``after``, the
    executions created after that one, oldest first. ``filters`` are ``list_executions``'s
    (``status``, ``workflow``, …). Raises ExecutionNotFound for an unknown cursor id.
    Without a payload search or filters beyond ``status`` and ``workflow``, this is
    ``engine.plain_reads.executions.iter_executions``: the query the CLI's plain read runs.
    """
    if where is None and set(filters) <= {"status", "workflow"}:
        with Reader.of_engine(db.read_engine) as reader:
            yield from plain.iter_executions(
                reader, limit=limit, before=before, after=after, **filters
            )
        return
    older = cursor_for(db, before) if before else None
    newer = cursor_for(db, after) if after else None
    left = limit
    while left is None or left > 0:
        page_size = MAX_PAGE if left is None else min(left, MAX_PAGE)
        page = list_executions(
            db, limit=page_size, after=older, newer_than=newer, where=where, **filters
        )
        yield from page
        if len(page) < page_size:
            return
        if left is not None:
            left -= len(page)
        if newer is not None:
            newer = cursor_of(page[-1])
        else:
            older = cursor_of(page[-1])


def _listed(row: Any) -> ExecutionRow:
    (id_, workflow, status, trigger_type, created_at, started_at, completed_at, duration_ms,
     retry_count, error, stored, available_at, paused_at) = row  # fmt: skip
    waiting = waiting_reason(
        status, stored, retry_count, available_at, paused_at is not None, datetime.now(UTC)
    )
    return ExecutionRow(
        id_, workflow, status, trigger_type, created_at, started_at, completed_at,
        duration_ms, retry_count, error, waiting,
    )  # fmt: skip


def cursor_for(db: Database, execution_id: str) -> Cursor:
    """The cursor of an execution by its id; ExecutionNotFound when there is none."""
    with db.read_engine.connect() as conn:
        found = conn.execute(sa.select(E.created_at).where(E.id == execution_id)).scalar()
    if found is None:
        raise ExecutionNotFound(execution_id)
    return Cursor(found, execution_id)


def _workflow_ids(conn: sa.Connection, exact: str | None, contains: str | None) -> list[str] | None:
    """Ids of the workflows a name filter selects, or None when there is no name filter."""
    if exact is None and not contains:
        return None
    query = sa.select(W.id)
    if exact is not None:
        query = query.where(W.name == exact)
    if contains:
        query = query.where(W.name.icontains(contains, autoescape=True))
    return list(conn.execute(query).scalars())


def cursor_of(row: ExecutionRow) -> Cursor:
    """The cursor that continues after ``row``."""
    return Cursor(row.created_at, row.id)


def get_execution(db: Database, execution_id: str, *, log_limit: int = 500) -> ExecutionDetail:
    """One execution with its steps and (up to ``log_limit``) log lines."""
    from sqlmodel import col, select

    from engine.models import (
        Workflow,
        WorkflowExecution,
        WorkflowExecutionLog,
        WorkflowExecutionStep,
    )

    with db.read_session() as session:
        found = session.exec(
            select(WorkflowExecution, Workflow.name, Workflow.paused_at)
            .join(Workflow, col(Workflow.id) == col(WorkflowExecution.workflow_id))
            .where(WorkflowExecution.id == execution_id)
        ).first()
        if found is None:
            raise ExecutionNotFound(execution_id)
        execution, name, paused_at = found
        steps = session.exec(
            select(WorkflowExecutionStep)
            .where(WorkflowExecutionStep.execution_id == execution_id)
            .order_by(col(WorkflowExecutionStep.step_index))
        ).all()
        logs = session.exec(
            select(WorkflowExecutionLog)
            .where(WorkflowExecutionLog.execution_id == execution_id)
            .order_by(col(WorkflowExecutionLog.id))
            .limit(log_limit)
        ).all()
        return ExecutionDetail(
            row=_row(execution, name, paused=paused_at is not None),
            trigger_data=execution.trigger_data,
            result=execution.result,
            available_at=execution.available_at,
            worker_id=execution.worker_id,
            steps=[
                StepRecord(
                    s.step_index,
                    s.action_type,
                    s.status,
                    s.result,
                    s.error,
                    s.attempt,
                    s.duration_ms,
                )
                for s in steps
            ],
            logs=[LogLine(g.timestamp, g.level, g.message, g.step_index, g.data) for g in logs],
        )
