"""The gated claim: runs of a paused or limited workflow (``workflow.flow_gated``).

The plain claim (``engine.execution.claims``) never takes such runs; it refuses them as
``gated`` and the executor hands them here. Per workflow, in one transaction holding the
workflow row (PostgreSQL ``FOR UPDATE``; SQLite's one write lock), the gated claim
- claims nothing while the workflow is paused (``paused``: the rows stay PENDING, and
  resuming enqueues them);
- drops an operator's limit override whose time is up;
- counts the workflow's RUNNING runs against the effective ``max_concurrent`` and its
  fixed rate window against the effective ``rate_limit``, claims what both allow (and the
  global RUNNING cap), and marks the rest ``waiting = 'limit'`` (``limit``: looked at
  again when a run of the workflow finishes, or when the rate window opens).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.definitions.durations import parse_rate
from engine.execution.claims import (
    CLAIMED_COLUMNS,
    EXECUTIONS,
    PENDING,
    RUNNING,
    WORKFLOWS,
    Claimed,
    ClaimRefusal,
    E,
    W,
    refusals,
)

LIMIT = "limit"


@dataclass
class GatedResult:
    """What the gated claim took, and why it left the rest."""

    claimed: list[Claimed] = field(default_factory=list)
    refused: dict[str, ClaimRefusal] = field(default_factory=dict)
    under_concurrency_limit: set[str] = field(default_factory=set)
    """The claimed ids whose workflow has a concurrency limit: when one finishes, the runs
    that limit held are looked at again (``waiting_for_room``)."""


@dataclass(frozen=True)
class Limits:
    """A workflow's effective limits: each the operator's override while it lasts, else
    the definition's."""

    concurrency: int | None
    rate: str | None
    override_expired: bool


def effective_limits(row: Any, now: datetime) -> Limits:
    """The limits in force for a workflow row (override columns, definition columns)."""
    until = row.override_until
    overridden = row.override_concurrent is not None or row.override_rate is not None
    if not overridden or (until is not None and until <= now):
        return Limits(row.max_concurrent, row.rate_limit, overridden)
    return Limits(
        row.override_concurrent if row.override_concurrent is not None else row.max_concurrent,
        row.override_rate if row.override_rate is not None else row.rate_limit,
        False,
    )


def gate_expression() -> sa.ColumnElement[bool]:
    """``flow_gated`` as the other columns say it should be (after they changed)."""
    return sa.or_(
        W.paused_at.is_not(None),
        W.max_concurrent.is_not(None),
        W.rate_limit.is_not(None),
        W.override_concurrent.is_not(None),
        W.override_rate.is_not(None),
    )


def clear_override(conn: Connection, workflow_id: str) -> None:
    """Drop the operator's override; ``flow_gated`` follows what is left."""
    conn.execute(
        sa.update(WORKFLOWS)
        .where(W.id == workflow_id)
        .values(override_concurrent=None, override_rate=None, override_until=None,
                override_by=None)
    )  # fmt: skip
    conn.execute(
        sa.update(WORKFLOWS).where(W.id == workflow_id).values(flow_gated=gate_expression())
    )


def claim_gated(
    conn: Connection,
    ids: Sequence[str],
    *,
    now: datetime,
    lease_until: datetime,
    worker_id: str,
    max_running: int,
    most: int,
) -> GatedResult:
    """Claim what the limits allow of ``ids`` (all due, PENDING runs of gated workflows).

    Call outside a transaction; each workflow is claimed in its own short transaction.
    """
    result = GatedResult()
    by_workflow: dict[str, list[str]] = defaultdict(list)
    rows = conn.execute(sa.select(E.id, E.workflow_id).where(E.id.in_(list(ids)))).all()
    conn.rollback()
    for row in rows:
        by_workflow[row.workflow_id].append(row.id)
    for workflow_id, group in by_workflow.items():
        room = most - len(result.claimed)
        with conn.begin():
            claimed, refused, limited = _claim_workflow(
                conn, workflow_id, group, now=now, lease_until=lease_until,
                worker_id=worker_id, max_running=max_running, room=room,
            )  # fmt: skip
        result.claimed += claimed
        if limited:
            result.under_concurrency_limit.update(c.id for c in claimed)
        result.refused.update(refused)
    missing = [i for i in ids if i not in result.refused and all(c.id != i for c in result.claimed)]
    if missing:
        with conn.begin():
            result.refused.update(refusals(conn, missing, now=now))
    return result


def _claim_workflow(
    conn: Connection,
    workflow_id: str,
    ids: list[str],
    *,
    now: datetime,
    lease_until: datetime,
    worker_id: str,
    max_running: int,
    room: int,
) -> tuple[list[Claimed], dict[str, ClaimRefusal], bool]:
    """One workflow's share of the gated claim; the flag: it has a concurrency limit."""
    postgres = conn.dialect.name == "postgresql"
    query = sa.select(WORKFLOWS).where(W.id == workflow_id)
    workflow = conn.execute(query.with_for_update() if postgres else query).first()
    if workflow is None:
        return [], {}, False
    if workflow.paused_at is not None:
        return [], {i: ClaimRefusal("paused") for i in ids}, False
    limits = effective_limits(workflow, now)
    if limits.override_expired:
        clear_override(conn, workflow_id)
    running_all = conn.execute(
        sa.select(sa.func.count()).select_from(EXECUTIONS).where(E.status == RUNNING)
    ).scalar_one()
    take = min(room, max_running - int(running_all))
    busy = take <= 0
    rate_bound, window_end = False, None
    if limits.concurrency is not None:
        running = conn.execute(
            sa.select(sa.func.count())
            .select_from(EXECUTIONS)
            .where(E.workflow_id == workflow_id, E.status == RUNNING)
        ).scalar_one()
        take = min(take, limits.concurrency - int(running))
    window_start, window_count = workflow.rate_window_start, workflow.rate_window_count
    if limits.rate is not None:
        allowed, seconds = parse_rate(limits.rate)
        if window_start is None or now >= window_start + timedelta(seconds=seconds):
            window_start, window_count = now, 0
        window_end = window_start + timedelta(seconds=seconds)
        if allowed - window_count < take:
            take, rate_bound = allowed - window_count, True
    due = (
        sa.select(E.id)
        .where(E.id.in_(ids), E.status == PENDING, E.available_at <= now)
        .order_by(E.available_at)
        .limit(max(take, 0))
    )
    if postgres:
        due = due.with_for_update(skip_locked=True)
    chosen = list(conn.execute(due).scalars()) if take > 0 else []
    claimed: list[Claimed] = []
    if chosen:
        rows = conn.execute(
            sa.update(EXECUTIONS)
            .where(E.id.in_(chosen), E.status == PENDING)
            .values(status=RUNNING, started_at=sa.func.coalesce(E.started_at, now),
                    lease_until=lease_until, worker_id=worker_id, cancel_requested=False,
                    waiting=None)
            .returning(*CLAIMED_COLUMNS)
        ).all()  # fmt: skip
        claimed = [Claimed(*row) for row in rows]
    if limits.rate is not None:
        conn.execute(
            sa.update(WORKFLOWS)
            .where(W.id == workflow_id)
            .values(rate_window_start=window_start, rate_window_count=window_count + len(claimed))
        )
    taken = {c.id for c in claimed}
    left = [i for i in ids if i not in taken]
    refused: dict[str, ClaimRefusal] = {}
    if left:
        held = conn.execute(
            sa.update(EXECUTIONS)
            .where(E.id.in_(left), E.status == PENDING, E.available_at <= now)
            .values(waiting=E.waiting if busy else LIMIT)
            .returning(E.id)
        ).scalars()
        for execution_id in held:
            if busy:
                refused[execution_id] = ClaimRefusal("busy")
            else:
                refused[execution_id] = ClaimRefusal(LIMIT, window_end if rate_bound else None)
    return claimed, refused, limits.concurrency is not None


def waiting_for_room(conn: Connection, finished: dict[str, int]) -> list[str]:
    """The oldest runs held by a limit, per workflow as many as finished (``finished``)."""
    ids: list[str] = []
    for workflow_id, count in finished.items():
        ids += conn.execute(
            sa.select(E.id)
            .where(E.workflow_id == workflow_id, E.status == PENDING, E.waiting == LIMIT)
            .order_by(E.available_at)
            .limit(count)
        ).scalars()
    return ids
