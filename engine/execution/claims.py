"""The SQL of claiming executions: the conditional claim, the RUNNING cap, counters.

A claim moves rows PENDING → RUNNING with ``lease_until`` and ``worker_id`` in one
conditional UPDATE, so a duplicate message claims nothing. What happens after the claim
(steps, retries, the end state) is written by ``engine.execution.commit_rounds``; every write there
is conditional on the row still being ours (``status = RUNNING`` and ``worker_id``), so
a worker whose lease the sweeper took back changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.models import (
    ExecutionStatus,
    Workflow,
    WorkflowExecution,
    WorkflowExecutionLog,
    WorkflowExecutionStep,
    table_of,
)

EXECUTIONS = table_of(WorkflowExecution)
WORKFLOWS = table_of(Workflow)
STEPS = table_of(WorkflowExecutionStep)
LOGS = table_of(WorkflowExecutionLog)
E, W = EXECUTIONS.c, WORKFLOWS.c
RUNNING, PENDING = ExecutionStatus.RUNNING.value, ExecutionStatus.PENDING.value
_CLAIMED_COLUMNS = (
    E.id,
    E.workflow_id,
    E.workflow_version,
    E.trigger_type,
    E.trigger_data,
    E.retry_count,
    E.next_step,
    E.event_depth,
)
CLAIMED_COLUMNS = _CLAIMED_COLUMNS


@dataclass(frozen=True)
class Claimed:
    """What a successful claim returns: enough to run without another query."""

    id: str
    workflow_id: str
    workflow_version: int
    trigger_type: str
    trigger_data: dict[str, Any]
    retry_count: int
    next_step: int
    event_depth: int


@dataclass(frozen=True)
class ClaimRefusal:
    """Why a claim took nothing: gone/finished, not due yet, the concurrency cap, or flow
    control: ``gated`` (its workflow is paused or limited: the gated claim decides, see
    ``engine.execution.gated_claims``), which then says ``paused`` or ``limit``."""

    reason: str  # "absent" | "not_pending" | "not_due" | "busy" | "gated" | "paused" | "limit"
    available_at: datetime | None = None
    """When to look again: a not-due row's ``available_at``, a rate limit's next window."""


@dataclass
class PendingWrites:
    """Step and log rows gathered in memory, written with the attempt's next commit."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)


def claim(
    conn: Connection,
    execution_id: str,
    *,
    now: datetime,
    lease_until: datetime,
    worker_id: str,
    max_running: int,
) -> Claimed | ClaimRefusal:
    """Claim one execution (see ``claim_many``); a refusal says why nothing was claimed."""
    claimed = claim_many(
        conn,
        [execution_id],
        now=now,
        lease_until=lease_until,
        worker_id=worker_id,
        max_running=max_running,
    )
    if claimed:
        return claimed[0]
    return refusals(conn, [execution_id], now=now)[execution_id]


# The claim, in one statement: how many RUNNING slots are free (``slots``), the given ids
# that are due (``own``), and — when ``fill`` asks for it — other due rows, oldest first,
# up to ``fill`` in all (``other``). PostgreSQL skips rows another claim has locked, so
# concurrent claims never wait on each other; SQLite runs it under its one write lock.
# Runs of a paused or limited workflow (``flow_gated``) are never taken here: the gated
# claim (engine.execution.gated_claims) takes them, one workflow at a time.
_CLAIM_SQL = """
WITH slots AS (
    SELECT {least}({greatest}(:cap - count(*), 0), :most) AS take
    FROM workflow_execution WHERE status = 'RUNNING'
), own AS (
    SELECT id FROM workflow_execution
    WHERE id {in_ids} AND status = 'PENDING' AND available_at <= :now{ungated}
    LIMIT (SELECT take FROM slots){lock}
), other AS (
    SELECT id FROM workflow_execution
    WHERE status = 'PENDING' AND available_at <= :now AND id {not_in_ids}{ungated}
    ORDER BY available_at
    LIMIT (SELECT {greatest}({least}(take, :fill) - (SELECT count(*) FROM own), 0) FROM slots)
    {lock}
)
UPDATE workflow_execution
SET status = 'RUNNING', started_at = COALESCE(started_at, :now), lease_until = :lease_until,
    worker_id = :worker_id, cancel_requested = :false
WHERE id IN (SELECT id FROM own UNION ALL SELECT id FROM other)
RETURNING id, workflow_id, workflow_version, trigger_type, trigger_data, retry_count,
    next_step, event_depth
"""


def _claim_statement(dialect: str) -> sa.TextualSelect:
    if dialect == "postgresql":
        sql = _CLAIM_SQL.format(
            least="LEAST",
            greatest="GREATEST",
            in_ids="= ANY(CAST(:ids AS VARCHAR[]))",
            not_in_ids="<> ALL(CAST(:ids AS VARCHAR[]))",
            lock=" FOR UPDATE SKIP LOCKED",
            ungated=_UNGATED,
        )
        ids: sa.BindParameter[Any] = sa.bindparam("ids")
    else:
        sql = _CLAIM_SQL.format(
            least="MIN",
            greatest="MAX",
            in_ids="IN :ids",
            not_in_ids="NOT IN :ids",
            lock="",
            ungated=_UNGATED,
        )
        ids = sa.bindparam("ids", expanding=True)
    return (
        sa.text(sql)
        .bindparams(
            ids,
            sa.bindparam("now", type_=E.available_at.type),
            sa.bindparam("lease_until", type_=E.lease_until.type),
            sa.bindparam("false", type_=sa.Boolean()),
        )
        .columns(*_CLAIMED_COLUMNS)
    )


_UNGATED = (
    "\n    AND NOT EXISTS (SELECT 1 FROM workflow w"
    " WHERE w.id = workflow_execution.workflow_id AND w.flow_gated)"
)
_CLAIM_STATEMENTS = {name: _claim_statement(name) for name in ("postgresql", "sqlite")}
# The same claim for psycopg's own placeholders (the PostgreSQL fast path,
# engine.execution.postgres_pipeline).
CLAIM_SQL_PYFORMAT = re.sub(
    r"(?<!:):(\w+)",
    r"%(\1)s",
    _CLAIM_SQL.format(
        least="LEAST",
        greatest="GREATEST",
        in_ids="= ANY(CAST(:ids AS VARCHAR[]))",
        not_in_ids="<> ALL(CAST(:ids AS VARCHAR[]))",
        lock=" FOR UPDATE SKIP LOCKED",
        ungated=_UNGATED,
    ),
)


@dataclass
class ClaimResult:
    """One claim call: what was claimed, why the rest of the ids was not, the cap excess."""

    claimed: list[Claimed]
    refused: dict[str, ClaimRefusal]
    excess: int = 0  # RUNNING beyond the cap right after our commit (0 on SQLite)


def claim_limit(ids: Sequence[str], fill: int, most: int | None) -> int:
    """How many rows a claim may take: its ids (or ``fill``), never more than ``most``."""
    wanted = max(len(ids), fill)
    return wanted if most is None else max(0, min(wanted, most))


def claim_batch(
    conn: Connection,
    ids: Sequence[str],
    *,
    now: datetime,
    lease_until: datetime,
    worker_id: str,
    max_running: int,
    fill: int = 0,
    most: int | None = None,
) -> ClaimResult:
    """Claim (``claim_many``) and commit; then, on PostgreSQL, read the cap excess.

    Call outside a transaction. SQLite runs the claim's cap test under its one write
    lock, so it cannot race; PostgreSQL claims can, and the one that checks last sees both.
    """
    with conn.begin():
        claimed = claim_many(
            conn, ids, now=now, lease_until=lease_until, worker_id=worker_id,
            max_running=max_running, fill=fill, most=most,
        )  # fmt: skip
        taken = {c.id for c in claimed}
        missing = [i for i in ids if i not in taken]
        refused = refusals(conn, missing, now=now) if missing else {}
    excess = 0
    if claimed and conn.dialect.name != "sqlite":
        excess = running_excess(conn, max_running)
        conn.rollback()  # end the read transaction the check opened
    return ClaimResult(claimed, refused, excess)


def claim_many(
    conn: Connection,
    ids: Sequence[str],
    *,
    now: datetime,
    lease_until: datetime,
    worker_id: str,
    max_running: int,
    fill: int = 0,
    most: int | None = None,
) -> list[Claimed]:
    """PENDING → RUNNING for the due ones of ``ids`` (and other due rows up to ``fill``).

    Never takes more than the free RUNNING slots, nor more than ``most`` rows (the room
    the calling process has; the ids left over are refused as ``busy``). Two workers
    claiming at the same moment can both see the same free slots; the caller checks
    ``running_excess`` after committing and gives the excess back (see ``Executor``).
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # A claim need not wait for its WAL flush: a claim lost in a crash leaves the row
        # PENDING (nothing ran), and any later commit of this run flushes it anyway.
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
    statement = _CLAIM_STATEMENTS.get(dialect, _CLAIM_STATEMENTS["sqlite"])
    rows = conn.execute(
        statement,
        {
            "ids": list(ids),
            "now": now,
            "lease_until": lease_until,
            "worker_id": worker_id,
            "cap": max_running,
            "most": claim_limit(ids, fill, most),
            "fill": fill,
            "false": False,
        },
    ).all()
    claimed = {row.id: Claimed(*row) for row in rows}
    # The message's own ids first, in their order; then the rest, as claimed.
    first = [claimed.pop(i) for i in ids if i in claimed]
    return first + list(claimed.values())


def refusals(conn: Connection, ids: Collection[str], *, now: datetime) -> dict[str, ClaimRefusal]:
    """Why each of ``ids`` was not claimed (read right after the claim)."""
    gated = sa.select(W.flow_gated).where(W.id == E.workflow_id).scalar_subquery()
    rows = conn.execute(sa.select(E.id, E.status, E.available_at, gated).where(E.id.in_(list(ids))))
    return classify_refusals(ids, {row[0]: (row[1], row[2], row[3]) for row in rows}, now)


def classify_refusals(
    ids: Collection[str], found: Mapping[str, tuple[str, datetime, bool | None]], now: datetime
) -> dict[str, ClaimRefusal]:
    """Why each of ``ids`` was not claimed, from their (status, available_at, flow_gated)."""
    result = {}
    for execution_id in ids:
        row = found.get(execution_id)
        if row is None:
            result[execution_id] = ClaimRefusal("absent")
        elif row[0] != PENDING:
            result[execution_id] = ClaimRefusal("not_pending")
        elif row[1] > now:
            result[execution_id] = ClaimRefusal("not_due", row[1])
        elif row[2]:
            result[execution_id] = ClaimRefusal("gated")
        else:
            # Due and PENDING: the cap was full, or another claim had it locked.
            result[execution_id] = ClaimRefusal("busy")
    return result


def running_excess(conn: Connection, max_running: int) -> int:
    """How many executions are RUNNING beyond ``max_running`` (read after our claim commits).

    Whichever of two racing claims checks last sees both; when each claim gives back the
    excess it sees (as far as it holds rows), the rows that go on to run a step never
    exceed the cap. At worst both give back and try again shortly.
    """
    count = conn.execute(
        sa.select(sa.func.count()).select_from(EXECUTIONS).where(E.status == RUNNING)
    ).scalar_one()
    return max(0, int(count) - max_running)


def give_back(conn: Connection, ids: Collection[str], *, worker_id: str) -> None:
    """Undo claims that went over the cap: RUNNING → PENDING, nothing counted."""
    conn.execute(
        sa.update(EXECUTIONS)
        .where(E.id.in_(list(ids)), E.status == RUNNING, E.worker_id == worker_id)
        .values(status=PENDING, lease_until=None, worker_id=None)
    )


def extend_leases(conn: Connection, leases: Mapping[str, datetime], *, worker_id: str) -> None:
    """Move the leases of executions we hold."""
    conn.execute(
        sa.update(EXECUTIONS)
        .where(E.id == sa.bindparam("b_id"), E.status == RUNNING, E.worker_id == worker_id)
        .values(lease_until=sa.bindparam("b_lease", type_=E.lease_until.type)),
        [{"b_id": execution_id, "b_lease": lease} for execution_id, lease in leases.items()],
    )


def finished_step_results(
    conn: Connection, before: Mapping[str, int]
) -> dict[str, list[dict[str, Any]]]:
    """Per execution, the results of the steps finished before ``before[id]`` (resume).

    The failed attempt of the step being retried is not among them: it runs again.
    """
    results: dict[str, list[dict[str, Any]]] = {execution_id: [] for execution_id in before}
    rows = conn.execute(
        sa.select(
            STEPS.c.execution_id,
            STEPS.c.step_index,
            STEPS.c.action_type,
            STEPS.c.status,
            STEPS.c.result,
        )
        .where(STEPS.c.execution_id.in_(list(before)))
        .order_by(STEPS.c.execution_id, STEPS.c.step_index)
    )
    for r in rows:
        if r.step_index < before[r.execution_id]:
            results[r.execution_id].append(
                {"index": r.step_index, "type": r.action_type, "status": r.status,
                 "result": r.result}
            )  # fmt: skip
    return results


@dataclass
class CounterDelta:
    """Finished runs of one workflow, to add to its counters in one UPDATE."""

    finished: int = 0
    success: int = 0
    failure: int = 0
    timed_ms: float = 0.0  # total duration of the SUCCESS and FAILED ones
    latest: datetime | None = None

    def add(self, status: str, duration_ms: float | None, now: datetime) -> None:
        self.finished += 1
        if status in (ExecutionStatus.SUCCESS, ExecutionStatus.FAILED) and duration_ms is not None:
            if status == ExecutionStatus.SUCCESS:
                self.success += 1
            else:
                self.failure += 1
            self.timed_ms += duration_ms
        if self.latest is None or now > self.latest:
            self.latest = now


def bump_counters(
    conn: Connection, workflow_id: str, *, status: str, duration_ms: float | None, now: datetime
) -> None:
    """Count one more finished run on the workflow; SUCCESS/FAILED feed the average."""
    delta = CounterDelta()
    delta.add(status, duration_ms, now)
    add_counters(conn, workflow_id, delta)


def add_counters(conn: Connection, workflow_id: str, delta: CounterDelta) -> None:
    """Add several finished runs to the workflow's counters in one UPDATE."""
    latest = delta.latest
    values: dict[str, Any] = {"execution_count": W.execution_count + delta.finished}
    if latest is not None:
        # Workers commit out of order: a run that finished earlier must not move it back.
        values["last_execution_at"] = sa.case(
            (sa.or_(W.last_execution_at.is_(None), W.last_execution_at < latest), latest),
            else_=W.last_execution_at,
        )
    timed_runs = delta.success + delta.failure
    if timed_runs:
        timed = W.success_count + W.failure_count
        values["avg_execution_ms"] = (
            sa.func.coalesce(W.avg_execution_ms, 0.0) * timed + delta.timed_ms
        ) / (timed + timed_runs)
        values["success_count"] = W.success_count + delta.success
        values["failure_count"] = W.failure_count + delta.failure
    conn.execute(sa.update(WORKFLOWS).where(W.id == workflow_id).values(**values))
