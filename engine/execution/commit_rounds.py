"""The SQL of a commit round: the decisions of several attempts in one transaction.

A round writes, for each attempt it holds, the step just finished (``Continue``), a hand
back for retry (``Retry``), a hand back to wait for a destination (``Wait``) or the end
state (``Finish``), then every gathered step and log
row with multi-row INSERTs, then the workflows' counters with one UPDATE per workflow.
The rows are locked first (``lock_owned``) and only those still ours are written, so a
worker whose lease the sweeper took back changes nothing.

``core_round`` does this through SQLAlchemy Core (SQLite and the generic case);
``engine.execution.postgres_pipeline`` does the same on PostgreSQL in two round trips.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.execution.claims import (
    EXECUTIONS,
    LOGS,
    PENDING,
    RUNNING,
    STEPS,
    CounterDelta,
    E,
    PendingWrites,
    add_counters,
)
from engine.execution.decisions import Continue, Decision, Finish, Retry, Wait


class Round(Protocol):
    """One commit round's transaction (``CoreRound``, or ``postgres_pipeline.PgRound``)."""

    def lock_owned(self, ids: Collection[str], *, worker_id: str) -> dict[str, bool]: ...

    def write(self, items: Sequence[RoundItem], *, worker_id: str) -> None: ...


@dataclass(frozen=True)
class RoundItem:
    """One attempt's share of a round: what to write for its execution."""

    execution_id: str
    workflow_id: str
    next_step: int
    decision: Decision
    writes: PendingWrites


def lock_owned(conn: Connection, ids: Collection[str], *, worker_id: str) -> dict[str, bool]:
    """Lock the rows of ``ids`` still ours; returns each one's ``cancel_requested``.

    Locked in id order (PostgreSQL; SQLite holds its write lock since BEGIN), so rounds
    of different workers never deadlock on each other's rows.
    """
    rows = conn.execute(
        sa.select(E.id, E.cancel_requested)
        .where(E.id.in_(sorted(ids)), E.status == RUNNING, E.worker_id == worker_id)
        .order_by(E.id)
        .with_for_update()
    )
    return {row.id: bool(row.cancel_requested) for row in rows}


def _ours() -> Any:
    return sa.and_(
        E.id == sa.bindparam("b_id"), E.status == RUNNING, E.worker_id == sa.bindparam("b_worker")
    )


_RECORD_STEP = (
    sa.update(EXECUTIONS)
    .where(_ours())
    .values(
        next_step=sa.bindparam("b_next_step", type_=E.next_step.type),
        lease_until=sa.bindparam("b_lease_until", type_=E.lease_until.type),
    )
)
_HAND_BACK = (
    sa.update(EXECUTIONS)
    .where(_ours())
    .values(
        status=PENDING,
        retry_count=E.retry_count + 1,
        available_at=sa.bindparam("b_available_at", type_=E.available_at.type),
        next_step=sa.bindparam("b_next_step", type_=E.next_step.type),
        lease_until=None,
        worker_id=None,
        error=sa.bindparam("b_error", type_=E.error.type),
    )
)
_WAIT = (
    sa.update(EXECUTIONS)
    .where(_ours())
    .values(
        status=PENDING,
        available_at=sa.bindparam("b_available_at", type_=E.available_at.type),
        next_step=sa.bindparam("b_next_step", type_=E.next_step.type),
        lease_until=None,
        worker_id=None,
        waiting="destination",
        waiting_for=sa.bindparam("b_waiting_for", type_=E.waiting_for.type),
    )
)
_FINISH_VALUES = {
    "status": sa.bindparam("b_status", type_=E.status.type),
    "completed_at": sa.bindparam("b_completed_at", type_=E.completed_at.type),
    "duration_ms": sa.bindparam("b_duration_ms", type_=E.duration_ms.type),
    "next_step": sa.bindparam("b_next_step", type_=E.next_step.type),
    "error": sa.bindparam("b_error", type_=E.error.type),
    "error_signature": sa.bindparam("b_error_signature", type_=E.error_signature.type),
    "lease_until": None,
}
# Two forms, so a run without a result stores SQL NULL (a JSON bind would store 'null').
_FINISH = sa.update(EXECUTIONS).where(_ours()).values(result=None, **_FINISH_VALUES)
_FINISH_WITH_RESULT = (
    sa.update(EXECUTIONS)
    .where(_ours())
    .values(result=sa.bindparam("b_result", type_=E.result.type), **_FINISH_VALUES)
)
_INSERT_STEPS = sa.insert(STEPS)
_INSERT_LOGS = sa.insert(LOGS)


@dataclass
class RoundRows:
    """A round's writes, grouped by statement: the parameters of each."""

    records: list[dict[str, Any]] = field(default_factory=list)
    hand_backs: list[dict[str, Any]] = field(default_factory=list)
    waits: list[dict[str, Any]] = field(default_factory=list)
    finishes: list[dict[str, Any]] = field(default_factory=list)
    finishes_with_result: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, CounterDelta] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def steps_again(self) -> list[tuple[str, int]]:
        """(execution, step) of steps run again: their failed attempt's row is replaced.

        One row per step; a first attempt has no earlier rows, so the hot path skips this.
        """
        return [(s["execution_id"], s["step_index"]) for s in self.steps if s["attempt"] > 0]


def round_rows(items: Sequence[RoundItem], *, worker_id: str) -> RoundRows:
    """Group the items' decisions and rows by the statement that writes them."""
    rows = RoundRows()
    for item in items:
        row: dict[str, Any] = {
            "b_id": item.execution_id,
            "b_worker": worker_id,
            "b_next_step": item.next_step,
        }
        decision = item.decision
        if isinstance(decision, Continue):
            row["b_lease_until"] = decision.lease_until
            rows.records.append(row)
        elif isinstance(decision, Retry):
            row.update(b_available_at=decision.available_at, b_error=decision.error)
            rows.hand_backs.append(row)
        elif isinstance(decision, Wait):
            row.update(b_available_at=decision.available_at, b_waiting_for=decision.destination)
            rows.waits.append(row)
        elif isinstance(decision, Finish):
            row.update(
                b_status=decision.status,
                b_completed_at=decision.completed_at,
                b_duration_ms=decision.duration_ms,
                b_error=decision.error,
                b_error_signature=decision.error_signature,
            )
            if decision.result is None:
                rows.finishes.append(row)
            else:
                row["b_result"] = decision.result
                rows.finishes_with_result.append(row)
            rows.counters.setdefault(item.workflow_id, CounterDelta()).add(
                decision.status, decision.duration_ms, decision.completed_at
            )
        rows.steps.extend(item.writes.steps)
        rows.logs.extend(item.writes.logs)
    return rows


class CoreRound:
    """A commit round through SQLAlchemy Core (SQLite, and any dialect without a fast path)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lock_owned(self, ids: Collection[str], *, worker_id: str) -> dict[str, bool]:
        """See ``lock_owned``."""
        return lock_owned(self.conn, ids, worker_id=worker_id)

    def write(self, items: Sequence[RoundItem], *, worker_id: str) -> None:
        """Write every item's decision and rows (after ``lock_owned``)."""
        conn = self.conn
        rows = round_rows(items, worker_id=worker_id)
        for statement, params in (
            (_RECORD_STEP, rows.records),
            (_HAND_BACK, rows.hand_backs),
            (_WAIT, rows.waits),
            (_FINISH, rows.finishes),
            (_FINISH_WITH_RESULT, rows.finishes_with_result),
        ):
            if params:
                conn.execute(statement, params)
        again = rows.steps_again
        if again:
            step = sa.tuple_(STEPS.c.execution_id, STEPS.c.step_index)
            conn.execute(sa.delete(STEPS).where(step.in_(again)))
        if rows.steps:
            conn.execute(_INSERT_STEPS, rows.steps)
        if rows.logs:
            conn.execute(_INSERT_LOGS, rows.logs)
        # In workflow id order, so rounds of different workers lock counter rows alike.
        for workflow_id in sorted(rows.counters):
            add_counters(conn, workflow_id, rows.counters[workflow_id])


@contextmanager
def core_round(conn: Connection) -> Iterator[CoreRound]:
    """One transaction for a round: committed when the block ends, rolled back on error."""
    with conn.begin():
        yield CoreRound(conn)
