"""What a step decides for its execution, and what the queue is told: plain values.

An ``Attempt`` turns each finished step into a ``Decision`` (go on, retry later, finish, or
wait for a held destination);
commit rounds write decisions; the executor reports an ``Outcome`` per execution id.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

LEASE_GRACE = timedelta(seconds=30)
SKIPPED_LOG = "conditions not met: skipped"
"""The log line of a run whose conditions are false (the executor's, and ingress's)."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one execution id, and what the queue should do next."""

    status: str  # a final status, "RETRY", or "NOOP" (nothing to do / not ours)
    retry_in: float | None = None  # seconds until the queue should look again
    error: str | None = None
    busy: bool = False  # not claimed because the RUNNING cap was full


@dataclass(frozen=True)
class Continue:
    """Commit the step just run (next_step, a fresh lease); the next step may then start."""

    lease_until: datetime


@dataclass(frozen=True)
class Retry:
    """Hand back to PENDING with retry_count + 1, due after ``delay`` seconds."""

    delay: float
    available_at: datetime
    error: str


@dataclass(frozen=True)
class Finish:
    """The final state, written with the workflow's counters."""

    status: str
    error: str | None
    completed_at: datetime
    duration_ms: float
    result: dict[str, Any] | None
    error_signature: str | None = None
    """``normalise_error(error)`` of a FAILED finish (computed by the attempt, on its step
    thread); None for every other status."""


@dataclass(frozen=True)
class Wait:
    """Hand back to PENDING with neither a failure nor a retry spent: the step's destination
    is held or its circuit open. ``waiting = 'destination'``, ``waiting_for``, the same
    ``next_step`` and ``retry_count``; due at ``available_at``."""

    destination: str
    available_at: datetime
    retry_in: float | None
    """Seconds until the queue should look again; None: when the destination is released."""


Decision = Continue | Retry | Finish | Wait


def retry_delay(base: int, retry_count: int, cap: int) -> float:
    """``base · 2^retry_count`` seconds, capped, with ±10 % jitter against thundering herds."""
    delay = min(float(base) * (2**retry_count), float(cap))
    return delay * (0.9 + 0.2 * random.random())  # noqa: S311
