"""The circuit breaker's transitions, shared by every worker through ``destination_state``.

closed → open after ``outbound.breaker_threshold`` consecutive transient failures (any
worker's); open → half_open when one worker wins the probe after the cool-down
(``claim_probe``: one conditional UPDATE, so exactly one); half_open → closed when the
probe succeeds (the waiting runs are released), → open again when it fails. A probe whose
worker died is claimable again after ``STALE_PROBE`` seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.outbound.holds import STATES, S, ensure_row

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STALE_PROBE = timedelta(seconds=120)


def record_failure(conn: Connection, destination: str, *, threshold: int, now: datetime) -> bool:
    """Count one transient failure; True when it opened the circuit."""
    ensure_row(conn, destination, now)
    conn.execute(
        sa.update(STATES)
        .where(S.destination == destination)
        .values(
            consecutive_failures=S.consecutive_failures + 1,
            updated_at=now,
            generation=S.generation + 1,
        )
    )
    opened = conn.execute(
        sa.update(STATES)
        .where(
            S.destination == destination,
            sa.or_(
                sa.and_(S.breaker_state == CLOSED, S.consecutive_failures >= threshold),
                S.breaker_state == HALF_OPEN,
            ),
        )
        .values(breaker_state=OPEN, opened_at=now, probe_by=None, generation=S.generation + 1)
    ).rowcount
    return bool(opened)


def record_success(conn: Connection, destination: str, *, now: datetime) -> bool:
    """Reset the failure count; True when this closed an open or half-open circuit."""
    closed = conn.execute(
        sa.update(STATES)
        .where(S.destination == destination, S.breaker_state != CLOSED)
        .values(
            breaker_state=CLOSED,
            opened_at=None,
            probe_by=None,
            consecutive_failures=0,
            updated_at=now,
            generation=S.generation + 1,
        )
    ).rowcount
    conn.execute(
        sa.update(STATES)
        .where(S.destination == destination, S.consecutive_failures > 0)
        .values(consecutive_failures=0, updated_at=now, generation=S.generation + 1)
    )
    return bool(closed)


def claim_probe(
    conn: Connection, destination: str, *, worker_id: str, cooldown: float, now: datetime
) -> bool:
    """Take the one probe of an open circuit whose cool-down is over; True when ours."""
    won = conn.execute(
        sa.update(STATES)
        .where(
            S.destination == destination,
            sa.or_(
                sa.and_(S.breaker_state == OPEN, S.opened_at <= now - timedelta(seconds=cooldown)),
                sa.and_(S.breaker_state == HALF_OPEN, S.updated_at <= now - STALE_PROBE),
            ),
        )
        .values(
            breaker_state=HALF_OPEN,
            probe_by=worker_id[:128],
            updated_at=now,
            generation=S.generation + 1,
        )
    ).rowcount
    return bool(won)
