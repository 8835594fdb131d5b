"""Holding and releasing destinations (console, CLI, API), and the workers' part.

``hold`` and ``release`` need ``Permission.OPERATE`` and are audited. A release clears the
hold, makes the waiting runs due and enqueues them; ``release_preview`` says beforehand
what it would send (the blast-radius dialog). ``release_due`` is the workers' part, from
their sweeper thread: holds whose ``--for`` is up, runs left waiting for a destination
that is no longer held, and old ``destination_minute`` rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from engine.access.audit import authorize, record_audit
from engine.access.roles import Permission
from engine.db import Database
from engine.models import Workflow, table_of, utcnow
from engine.outbound import breaker, holds
from engine.outbound.call_stats import delete_before
from engine.outbound.destinations import parse_destination
from engine.triggers.new_executions import Dispatcher, dispatch_all

KEEP_MINUTES_FOR = timedelta(hours=25)
"""Minute rows older than this are deleted (the longest window is 24 h)."""
PRUNE_EVERY_SECONDS = 600.0
WORKER_ACTOR = "wfconsole-worker"
W = table_of(Workflow).c
_last_prune: float | None = None  # time.monotonic() of this process's last prune


@dataclass(frozen=True)
class ReleaseResult:
    """What ``release`` did."""

    destination: str
    was_held: bool
    released: int


@dataclass(frozen=True)
class ReleasePreview:
    """What a release would send: how many runs, of which workflows (name → runs)."""

    destination: str
    held: bool
    runs: int
    workflows: dict[str, int]


@dataclass(frozen=True)
class HoldResult:
    """What ``hold`` did."""

    destination: str
    held_until: datetime | None
    waiting: int


def hold(
    db: Database, destination: str, *, actor: str, for_: timedelta | None = None
) -> HoldResult:
    """Hold ``destination`` (``HOST[:PORT]``) until released, or for ``for_``.

    Steps that start after this returns do not call it: their runs wait. Raises
    ``InvalidDestination`` and ``PermissionDenied``.
    """
    name = parse_destination(destination)
    if for_ is not None and for_ <= timedelta(0):
        raise ValueError("--for: the duration must be positive")
    now = utcnow()
    until = now + for_ if for_ is not None else None
    with db.engine.begin() as conn, Session(bind=conn) as session:
        authorize(session, actor, Permission.OPERATE)
        holds.set_hold(conn, name, actor=actor, until=until, now=now)
        waiting = len(holds.waiting_runs(conn, name))
        details = {"until": until.isoformat() if until else None}
        record_audit(session, actor=actor, action="destination.hold",
                     target_type="destination", target_id=name, details=details)  # fmt: skip
        session.commit()
    return HoldResult(name, until, waiting)


def release_preview(db: Database, destination: str) -> ReleasePreview:
    """What ``release`` would send now (the blast-radius dialog's figures)."""
    name = parse_destination(destination)
    with db.engine.connect() as conn:
        runs = holds.waiting_runs(conn, name)
        states = holds.read_states(conn, [name])
        counts: dict[str, int] = {}
        for _, workflow_id in runs:
            counts[workflow_id] = counts.get(workflow_id, 0) + 1
        names: dict[str, str] = {}
        if counts:
            query = sa.select(W.id, W.name).where(W.id.in_(list(counts)))
            names = {row.id: row.name for row in conn.execute(query)}
    held = bool(states) and states[0].held(utcnow())
    workflows = {names.get(wid, wid): n for wid, n in sorted(counts.items())}
    return ReleasePreview(name, held, len(runs), workflows)


def release(
    db: Database, queue: Dispatcher | None, destination: str, *, actor: str
) -> ReleaseResult:
    """End the hold on ``destination``, close its circuit, and send the runs waiting.

    One transaction (with its audit row), then the runs are enqueued. A step that read
    the hold just before it ended and hands its run back just after is sent by the
    workers' next pass (``release_due``: a run waiting for a destination that is not
    held). Raises ``InvalidDestination`` and ``PermissionDenied``.
    """
    name = parse_destination(destination)
    now = utcnow()
    with db.engine.begin() as conn, Session(bind=conn) as session:
        authorize(session, actor, Permission.OPERATE)
        was_held = holds.clear_hold(conn, name, now)
        circuit_closed = breaker.record_success(conn, name, now=now)  # the operator says go
        ids = holds.release_waiting(conn, name, now)
        details = {"was_held": was_held, "circuit_closed": circuit_closed, "released": len(ids)}
        record_audit(session, actor=actor, action="destination.release",
                     target_type="destination", target_id=name, details=details)  # fmt: skip
        session.commit()
    if ids and queue is not None:
        dispatch_all(queue, ids)
    return ReleaseResult(name, was_held, len(ids))


def _send_waiting(db: Database, queue: Dispatcher | None, name: str) -> list[str]:
    with db.engine.begin() as conn:
        ids = holds.release_waiting(conn, name, utcnow())
    if ids and queue is not None:
        dispatch_all(queue, ids)
    return ids


def release_due(db: Database, queue: Dispatcher | None, *, breaker_enabled: bool) -> int:
    """A worker's pass: end holds whose time is up, send runs waiting for a destination
    that is neither held nor (with the breaker on) open; prune old minute rows. Returns
    how many runs it sent."""
    now = utcnow()
    sent = 0
    with db.engine.begin() as conn:
        expired = holds.expired_holds(conn, now)
        for name in expired:
            if holds.clear_hold(conn, name, now):  # only one worker clears it
                with Session(bind=conn) as session:
                    record_audit(session, actor=WORKER_ACTOR, action="destination.release",
                                 target_type="destination", target_id=name,
                                 details={"expired": True})  # fmt: skip
                    session.commit()
    with db.engine.connect() as conn:
        waited = set(holds.waiting_counts(conn))
        states = {row.destination: row for row in holds.read_states(conn, sorted(waited))}
    for name in sorted(waited):
        state = states.get(name)
        blocked = state is not None and (
            state.held(now) or (breaker_enabled and state.breaker_state != breaker.CLOSED)
        )
        if not blocked:
            sent += len(_send_waiting(db, queue, name))
    _prune_minutes(db, now)
    return sent


def _prune_minutes(db: Database, now: datetime) -> None:
    global _last_prune
    # The first pass always prunes: time.monotonic() may count from boot, so on a machine
    # up for less than PRUNE_EVERY_SECONDS a start value of 0 would skip it.
    clock = time.monotonic()
    if _last_prune is not None and clock - _last_prune < PRUNE_EVERY_SECONDS:
        return
    _last_prune = clock
    delete_before(db, now - KEEP_MINUTES_FOR)
