"""Holds on destinations, and the runs that wait for them: the SQL both sides share.

A row of ``destination_state`` per destination ever held or failing. Every change of a
row bumps its ``generation``; the sum over the table only grows (rows are never deleted),
so a worker reads that one number to know whether its snapshot (``gate.OutboundGate``) is
still current.

A run whose step meets a held (or open) destination is handed back PENDING with
``waiting = 'destination'``, ``waiting_for`` the destination, the same ``next_step`` and
``retry_count``, and ``available_at`` when the hold ends by itself (``WAIT_HORIZON`` away
for a hold until released, so no claim or sweep takes it meanwhile). Releasing makes them
due now and clears ``waiting`` (``release_waiting``); the caller enqueues the ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.outbound.tables import EXECUTIONS, PENDING, STATES
from engine.outbound.tables import utc_now as utcnow

S = STATES.c
E = EXECUTIONS.c
WAITING = "destination"
WAIT_HORIZON = timedelta(days=1)
"""How far ``available_at`` is put for a run waiting for a hold until released; past it
the sweeper hands the run to a worker, which finds the hold and puts it back."""


class DestinationWaiting(Exception):
    """A step's destination is held or its circuit is open: the run waits (not a failure)."""

    def __init__(self, destination: str, reason: str, until: datetime | None) -> None:
        super().__init__(f"destination {destination} {reason}")
        self.destination = destination
        self.reason = reason  # "held" | "circuit open"
        self.until = until
        """When the run should be looked at again; None: when released."""


@dataclass(frozen=True)
class StateRow:
    """One destination's hold and breaker, as a snapshot holds it."""

    destination: str
    held_at: datetime | None
    held_by: str | None
    held_until: datetime | None
    breaker_state: str
    consecutive_failures: int
    opened_at: datetime | None
    probe_by: str | None

    def held(self, now: datetime) -> bool:
        """Whether a hold is in force at ``now``."""
        return self.held_at is not None and (self.held_until is None or self.held_until > now)


def generation(conn: Connection) -> int:
    """The table's total generation (grows with every change of any row)."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(S.generation), 0))).scalar_one())


def read_states(conn: Connection, destinations: Sequence[str] | None = None) -> list[StateRow]:
    """Every destination's state (or those of ``destinations``)."""
    query = sa.select(
        S.destination, S.held_at, S.held_by, S.held_until, S.breaker_state,
        S.consecutive_failures, S.opened_at, S.probe_by,
    )  # fmt: skip
    if destinations is not None:
        query = query.where(S.destination.in_(list(destinations)))
    return [StateRow(*row) for row in conn.execute(query)]


def ensure_row(conn: Connection, destination: str, now: datetime) -> None:
    """Create the destination's row if it has none (a no-op when another writer did)."""
    exists = conn.execute(sa.select(S.destination).where(S.destination == destination)).first()
    if exists is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    sa.insert(STATES).values(
                        destination=destination,
                        breaker_state="closed",
                        consecutive_failures=0,
                        generation=0,
                        updated_at=now,
                    )
                )
        except sa.exc.IntegrityError:
            pass  # inserted meanwhile by another writer


def set_hold(
    conn: Connection, destination: str, *, actor: str, until: datetime | None, now: datetime
) -> None:
    """Hold ``destination`` (until ``until``, or until released)."""
    ensure_row(conn, destination, now)
    conn.execute(
        sa.update(STATES)
        .where(S.destination == destination)
        .values(
            held_at=now,
            held_by=actor,
            held_until=until,
            updated_at=now,
            generation=S.generation + 1,
        )
    )


def clear_hold(conn: Connection, destination: str, now: datetime) -> bool:
    """End the hold on ``destination``; False when it had none."""
    done = conn.execute(
        sa.update(STATES)
        .where(S.destination == destination, S.held_at.is_not(None))
        .values(
            held_at=None,
            held_by=None,
            held_until=None,
            updated_at=now,
            generation=S.generation + 1,
        )
    ).rowcount
    return bool(done)


def expired_holds(conn: Connection, now: datetime) -> list[str]:
    """Destinations whose hold ended by itself and is not yet cleared."""
    query = sa.select(S.destination).where(S.held_at.is_not(None), S.held_until <= now)
    return list(conn.execute(query).scalars())


def waiting_runs(conn: Connection, destination: str) -> list[tuple[str, str]]:
    """(execution id, workflow id) of the runs waiting for ``destination``."""
    query = sa.select(E.id, E.workflow_id).where(
        E.status == PENDING, E.waiting == WAITING, E.waiting_for == destination
    )
    return [(row.id, row.workflow_id) for row in conn.execute(query)]


def waiting_counts(conn: Connection) -> dict[str, int]:
    """Destination → how many runs wait for it."""
    rows = conn.execute(
        sa.select(E.waiting_for, sa.func.count())
        .where(E.status == PENDING, E.waiting == WAITING)
        .group_by(E.waiting_for)
    )
    return {name: int(count) for name, count in rows if name}


def release_waiting(conn: Connection, destination: str, now: datetime) -> list[str]:
    """Make the runs waiting for ``destination`` due now; returns their ids (to enqueue)."""
    ids = [execution_id for execution_id, _ in waiting_runs(conn, destination)]
    for start in range(0, len(ids), 1000):
        conn.execute(
            sa.update(EXECUTIONS)
            .where(E.id.in_(ids[start : start + 1000]), E.status == PENDING, E.waiting == WAITING)
            .values(waiting=None, waiting_for=None, available_at=now)
        )
    return ids


def wait_until(reason_until: datetime | None) -> datetime:
    """The ``available_at`` of a run waiting until ``reason_until`` (None: until released)."""
    return reason_until if reason_until is not None else utcnow() + WAIT_HORIZON
