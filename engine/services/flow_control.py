"""Pause and resume a workflow, with a catch-up policy (console, CLI, API and workers).

Paused is not disabled: a disabled workflow refuses triggers; a paused one accepts them
and holds their runs PENDING (the gated claim, ``engine.execution.gated_claims``, starts
none). Resuming applies a catch-up policy to the held runs:

- ``all``: run every held one;
- ``latest``: run the newest, cancel the others ("superseded on resume");
- ``skip``: cancel every held one ("skipped on resume");
- ``spread:DURATION``: start them evenly over the duration.

``pause(..., for_=...)`` resumes by itself at that time (``auto_resume_due``, called by
whichever worker's housekeeping runs first: the resume is conditional, so only one does).
Pause and resume need OPERATOR; every change writes an audit row with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from engine.access.audit import authorize
from engine.access.roles import Permission
from engine.db import Database
from engine.execution.claims import EXECUTIONS, WORKFLOWS, CounterDelta, E, W, add_counters
from engine.execution.gated_claims import gate_expression
from engine.models import AuditLog, ExecutionStatus, table_of, utcnow
from engine.services.flow_arguments import CatchUp as CatchUp
from engine.services.flow_arguments import FlowControlError as FlowControlError
from engine.services.flow_arguments import duration_argument as duration_argument
from engine.services.flow_arguments import parse_catch_up as parse_catch_up
from engine.triggers.new_executions import Dispatcher, dispatch_all
from engine.workflow_cache.lookups import WorkflowNotFound

PENDING = ExecutionStatus.PENDING.value
CANCELLED = ExecutionStatus.CANCELLED.value
POLICIES = ("all", "latest", "skip", "spread")
SUPERSEDED = "superseded on resume"
SKIPPED = "skipped on resume"
WORKER_ACTOR = "wfconsole-worker"
"""Who an automatic resume (``pause --for``) is audited as."""


@dataclass(frozen=True)
class PauseResult:
    """What ``pause`` did."""

    workflow: str
    changed: bool  # False: it was already paused (its expiry and policy are updated)
    paused_at: datetime
    paused_until: datetime | None
    catch_up: str


@dataclass(frozen=True)
class ResumeResult:
    """What ``resume`` did to the held runs."""

    workflow: str
    was_paused: bool
    catch_up: str
    held: int
    started: list[str] = field(default_factory=list)
    cancelled: int = 0
    spread_until: datetime | None = None  # spread: when the last held run starts


@dataclass(frozen=True)
class PolicyEffect:
    """What one catch-up policy would do to the held runs."""

    start: int
    cancel: int
    description: str


@dataclass(frozen=True)
class HeldSummary:
    """A workflow's pause state and held runs: what each catch-up policy would do."""

    workflow: str
    paused: bool
    paused_at: datetime | None
    paused_by: str | None
    paused_until: datetime | None
    held: int
    newest_id: str | None
    policies: dict[str, PolicyEffect]


def workflow_row(conn: sa.Connection, name: str, *, lock: bool) -> Any:
    query = sa.select(WORKFLOWS).where(W.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise WorkflowNotFound(name)
    return row


def audit_workflow_change(
    conn: sa.Connection, actor: str, action: str, row: Any, **details: Any
) -> None:
    conn.execute(
        sa.insert(table_of(AuditLog)).values(
            actor=actor, action=action, target_type="workflow", target_id=row.id,
            details={"name": row.name, **details}, timestamp=utcnow(),
        )
    )  # fmt: skip


def authorize_in(conn: sa.Connection, actor: str, permission: Permission) -> None:
    """``authorize`` in ``conn``'s transaction (a newcomer is recorded as everywhere)."""
    with Session(bind=conn) as session:
        authorize(session, actor, permission)


def pause(
    db: Database,
    name: str,
    *,
    actor: str,
    for_: str | timedelta | None = None,
    catch_up: str | None = None,
) -> PauseResult:
    """Pause a workflow: triggers are still accepted, their runs held PENDING.

    ``for_`` resumes it by itself after that long, with ``catch_up`` (default ``all``).
    Running runs finish; only new starts are held.
    """
    duration = duration_argument(for_, "for")
    policy = parse_catch_up(catch_up) if catch_up is not None else CatchUp("all")
    now = utcnow()
    until = now + duration if duration is not None else None
    with db.engine.begin() as conn:
        authorize_in(conn, actor, Permission.OPERATE)
        row = workflow_row(conn, name, lock=True)
        paused_at = row.paused_at or now
        conn.execute(
            sa.update(WORKFLOWS)
            .where(W.id == row.id)
            .values(paused_at=paused_at, paused_by=row.paused_by if row.paused_at else actor,
                    paused_until=until, resume_catch_up=policy.text, flow_gated=True)
        )  # fmt: skip
        audit_workflow_change(conn, actor, "workflow.pause", row, until=until and until.isoformat(),
               catch_up=policy.text, already_paused=row.paused_at is not None)  # fmt: skip
    return PauseResult(row.name, row.paused_at is None, paused_at, until, policy.text)


def resume(
    db: Database,
    name: str,
    *,
    actor: str,
    catch_up: str = "all",
    queue: Dispatcher | None = None,
) -> ResumeResult:
    """Resume a paused workflow and apply ``catch_up`` to its held runs.

    The runs it starts are enqueued on ``queue`` after the commit (without one, the
    sweeper finds them once overdue). Resuming a workflow that is not paused does nothing.
    """
    policy = parse_catch_up(catch_up)
    with db.engine.begin() as conn:
        authorize_in(conn, actor, Permission.OPERATE)
        row = workflow_row(conn, name, lock=True)
        if row.paused_at is None:
            return ResumeResult(row.name, False, policy.text, 0)
        result = _resume_in(conn, row, policy, actor=actor)
    _enqueue(queue, result)
    return result


def _enqueue(queue: Dispatcher | None, result: ResumeResult) -> None:
    if queue is None or not result.started:
        return
    if result.spread_until is None:
        dispatch_all(queue, result.started)
        return
    # Spread: each run is due at its own time; its message waits until then.
    step = _spread_step(result.spread_until - utcnow(), len(result.started))
    for index, execution_id in enumerate(result.started):
        try:
            queue.dispatch(execution_id, delay=step * index)
        except Exception:  # the queue is down: the sweeper enqueues them once due
            break


def _spread_step(duration: timedelta, count: int) -> float:
    return duration.total_seconds() / count if count > 1 else 0.0


def _resume_in(conn: sa.Connection, row: Any, policy: CatchUp, *, actor: str) -> ResumeResult:
    """Resume ``row``'s workflow in the caller's transaction (its row already locked)."""
    now = utcnow()
    held = list(
        conn.execute(
            sa.select(E.id)
            .where(E.workflow_id == row.id, E.status == PENDING)
            .order_by(E.created_at, E.id)
        ).scalars()
    )
    conn.execute(
        sa.update(WORKFLOWS)
        .where(W.id == row.id)
        .values(paused_at=None, paused_by=None, paused_until=None, resume_catch_up=None)
    )
    conn.execute(sa.update(WORKFLOWS).where(W.id == row.id).values(flow_gated=gate_expression()))
    started, cancel = held, []
    if policy.policy == "latest":
        started, cancel = held[-1:], held[:-1]
    elif policy.policy == "skip":
        started, cancel = [], held
    cancelled = _cancel(conn, row.id, cancel, SUPERSEDED if started else SKIPPED, now)
    spread_until = None
    if policy.spread is not None and started:
        spread_until = now + policy.spread
        step = _spread_step(policy.spread, len(started))
        conn.execute(
            sa.update(EXECUTIONS)
            .where(E.id == sa.bindparam("b_id"), E.status == PENDING)
            .values(available_at=sa.bindparam("b_at", type_=E.available_at.type)),
            [{"b_id": i, "b_at": now + timedelta(seconds=step * n)} for n, i in enumerate(started)],
        )
    audit_workflow_change(conn, actor, "workflow.resume", row, catch_up=policy.text, held=len(held),
           started=len(started), cancelled=cancelled)  # fmt: skip
    return ResumeResult(row.name, True, policy.text, len(held), started, cancelled, spread_until)


def _cancel(
    conn: sa.Connection, workflow_id: str, ids: list[str], reason: str, now: datetime
) -> int:
    """Cancel held runs with ``reason``; they count in the workflow's counters as cancels do."""
    if not ids:
        return 0
    cancelled = 0
    for start in range(0, len(ids), 1000):
        cancelled += conn.execute(
            sa.update(EXECUTIONS)
            .where(E.id.in_(ids[start : start + 1000]), E.status == PENDING)
            .values(status=CANCELLED, completed_at=now, error=reason, lease_until=None,
                    waiting=None)
        ).rowcount  # fmt: skip
    delta = CounterDelta()
    for _ in range(cancelled):
        delta.add(CANCELLED, None, now)
    add_counters(conn, workflow_id, delta)
    return cancelled


def held_summary(db: Database, name: str) -> HeldSummary:
    """How many runs the workflow holds and what each catch-up policy would do to them."""
    with db.read_engine.connect() as conn:
        row = workflow_row(conn, name, lock=False)
        pending = E.workflow_id == row.id, E.status == PENDING
        held = conn.execute(sa.select(sa.func.count()).where(*pending)).scalar_one()
        newest = conn.execute(
            sa.select(E.id).where(*pending).order_by(E.created_at.desc(), E.id.desc()).limit(1)
        ).scalar()
    held = int(held)
    later = max(held - 1, 0)
    policies = {
        "all": PolicyEffect(held, 0, f"run all {held} held"),
        "latest": PolicyEffect(
            min(held, 1), later, f"run the newest, cancel {later} ({SUPERSEDED!r})"
        ),
        "skip": PolicyEffect(0, held, f"cancel all {held} held ({SKIPPED!r})"),
        "spread": PolicyEffect(held, 0, f"start the {held} held evenly over the duration"),
    }
    return HeldSummary(
        row.name, row.paused_at is not None, row.paused_at, row.paused_by, row.paused_until,
        held, newest, policies,
    )  # fmt: skip


def auto_resume_due(
    db: Database, now: datetime | None = None, queue: Dispatcher | None = None
) -> list[ResumeResult]:
    """Resume the workflows whose ``pause --for`` time is up, each with its policy.

    Safe in every worker at once: each resume takes the workflow row only if its time is
    still up (PostgreSQL ``FOR UPDATE``, SQLite's write lock), so one worker resumes it.
    """
    now = now or utcnow()
    with db.read_engine.connect() as conn:
        names = list(
            conn.execute(
                sa.select(W.name).where(W.paused_at.is_not(None), W.paused_until <= now)
            ).scalars()
        )
    results = []
    for name in names:
        with db.engine.begin() as conn:
            row = workflow_row(conn, name, lock=True)
            if row.paused_at is None or row.paused_until is None or row.paused_until > now:
                continue  # another worker resumed it (or it was paused again)
            policy = parse_catch_up(row.resume_catch_up or "all")
            result = _resume_in(conn, row, policy, actor=WORKER_ACTOR)
        _enqueue(queue, result)
        results.append(result)
    return results
