"""Destinations: the outbound board and the figures ``/metrics`` shows per destination.

The board sums the ``destination_minute`` rows of a window (5 min, 1 h, 24 h) per
destination — calls, errors, 429s, the last ``Retry-After``, latency percentiles from
the summed buckets (``engine.outbound.call_stats.percentile``: approximate, to the
bucket's width) — beside each destination's hold, circuit and the runs waiting for it.

Holding and releasing (``hold``, ``release``, ``release_preview``) are in
``engine.services.destination_holds`` and re-exported here, so the console, CLI and API
import one module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.db import Database
from engine.outbound import breaker, holds
from engine.outbound.call_stats import BUCKET_BOUNDS_MS, MINUTES, percentile
from engine.outbound.destinations import InvalidDestination, parse_destination
from engine.outbound.tables import utc_now as utcnow

if TYPE_CHECKING:
    from engine.services.destination_holds import (
        HoldResult,
        ReleasePreview,
        ReleaseResult,
        hold,
        release,
        release_due,
        release_preview,
    )

_FROM_HOLDS = frozenset(
    {"HoldResult", "ReleasePreview", "ReleaseResult", "hold", "release", "release_due",
     "release_preview"}
)  # fmt: skip


def __getattr__(name: str) -> Any:
    """``hold``, ``release``… from ``destination_holds``, imported on first use: the board
    (a read command) does not load what changing needs (the ORM, the audit log)."""
    if name in _FROM_HOLDS:
        from engine.services import destination_holds

        return getattr(destination_holds, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


WINDOWS = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "24h": timedelta(hours=24)}
M = MINUTES.c

__all__ = [
    "WINDOWS",
    "DestinationFigures",
    "DestinationMetric",
    "HoldResult",
    "InvalidDestination",
    "InvalidWindow",
    "ReleasePreview",
    "ReleaseResult",
    "destination_board",
    "destination_metrics",
    "hold",
    "parse_destination",
    "parse_window",
    "release",
    "release_due",
    "release_preview",
]


class InvalidWindow(ValueError):
    """A board window other than 5m, 1h or 24h."""


@dataclass(frozen=True)
class DestinationFigures:
    """One destination on the board."""

    destination: str
    calls: int
    errors: int
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    rate_limited: int
    last_retry_after: float | None
    last_retry_after_at: datetime | None
    circuit: str  # closed | open | half_open
    consecutive_failures: int
    held: bool
    held_by: str | None
    held_at: datetime | None
    held_until: datetime | None
    waiting: int

    def as_json(self) -> dict[str, Any]:
        """The row as JSON values (times as ISO text)."""
        row = dict(self.__dict__)
        for name in ("last_retry_after_at", "held_at", "held_until"):
            value = row[name]
            row[name] = value.isoformat() if value is not None else None
        return row


def parse_window(text: str) -> timedelta:
    """``5m`` / ``1h`` / ``24h``; ``InvalidWindow`` otherwise."""
    window = WINDOWS.get(text.strip() if isinstance(text, str) else "")
    if window is None:
        raise InvalidWindow(f"invalid window {str(text)[:20]!r}: expected 5m, 1h or 24h")
    return window


def destination_board(db: Database, window: str = "5m") -> list[DestinationFigures]:
    """Every destination called in the window, held, failing or waited for; busiest first."""
    since = utcnow() - parse_window(window)
    with db.read_engine.connect() as conn:
        minutes = conn.execute(
            sa.select(
                M.destination, M.calls, M.errors, M.rate_limited, M.last_retry_after,
                M.last_retry_after_at, M.latency_buckets,
            ).where(M.minute >= since.replace(second=0, microsecond=0))
        ).all()  # fmt: skip
        states = {row.destination: row for row in holds.read_states(conn)}
        waiting = holds.waiting_counts(conn)
    sums: dict[str, dict[str, Any]] = {}
    for row in minutes:
        entry = sums.setdefault(
            row.destination,
            {"calls": 0, "errors": 0, "rate_limited": 0, "retry": (None, None),
             "buckets": [0] * (len(BUCKET_BOUNDS_MS) + 1)},
        )  # fmt: skip
        entry["calls"] += row.calls
        entry["errors"] += row.errors
        entry["rate_limited"] += row.rate_limited
        if row.last_retry_after_at is not None and (
            entry["retry"][1] is None or row.last_retry_after_at > entry["retry"][1]
        ):
            entry["retry"] = (row.last_retry_after, row.last_retry_after_at)
        for index, count in enumerate(row.latency_buckets or []):
            if index < len(entry["buckets"]):
                entry["buckets"][index] += int(count)
    now = utcnow()
    names = (
        set(sums)
        | set(waiting)
        | {
            name
            for name, state in states.items()
            if state.held(now) or state.breaker_state != breaker.CLOSED
        }
    )
    board = [_figures(name, sums.get(name), states.get(name), waiting.get(name, 0), now)
             for name in names]  # fmt: skip
    return sorted(board, key=lambda f: (-f.calls, f.destination))


def _figures(
    name: str,
    sums: dict[str, Any] | None,
    state: holds.StateRow | None,
    waiting: int,
    now: datetime,
) -> DestinationFigures:
    calls = sums["calls"] if sums else 0
    errors = sums["errors"] if sums else 0
    buckets = sums["buckets"] if sums else []
    retry_after, retry_at = sums["retry"] if sums else (None, None)
    held = state is not None and state.held(now)
    return DestinationFigures(
        destination=name,
        calls=calls,
        errors=errors,
        error_rate=errors / calls if calls else None,
        p50_ms=percentile(buckets, 0.50),
        p95_ms=percentile(buckets, 0.95),
        p99_ms=percentile(buckets, 0.99),
        rate_limited=sums["rate_limited"] if sums else 0,
        last_retry_after=retry_after,
        last_retry_after_at=retry_at,
        circuit=state.breaker_state if state else breaker.CLOSED,
        consecutive_failures=state.consecutive_failures if state else 0,
        held=held,
        held_by=state.held_by if held and state else None,
        held_at=state.held_at if held and state else None,
        held_until=state.held_until if held and state else None,
        waiting=waiting,
    )


@dataclass(frozen=True)
class DestinationMetric:
    """One destination's ``/metrics`` samples."""

    destination: str
    calls_today: int
    errors_today: int
    held: bool
    circuit_open: bool


def destination_metrics(db: Database, *, now: datetime | None = None) -> list[DestinationMetric]:
    """Per destination: calls and errors since 00:00 UTC (counters that reset at midnight,
    which Prometheus's ``rate`` and ``increase`` treat as a counter reset), held, open."""
    now = now or utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with db.read_engine.connect() as conn:
        counts = {
            row.destination: (int(row.calls or 0), int(row.errors or 0))
            for row in conn.execute(
                sa.select(M.destination, sa.func.sum(M.calls).label("calls"),
                          sa.func.sum(M.errors).label("errors"))
                .where(M.minute >= midnight)
                .group_by(M.destination)
            )
        }  # fmt: skip
        states = {row.destination: row for row in holds.read_states(conn)}
    return [
        DestinationMetric(
            name,
            *counts.get(name, (0, 0)),
            held=name in states and states[name].held(now),
            circuit_open=name in states and states[name].breaker_state != breaker.CLOSED,
        )
        for name in sorted(set(counts) | set(states))
    ]
