"""Queue tools for maintenance: what waits in the queue, and flushing stale locks.

A stale lock is something held by a worker process that no longer beats (no heartbeat row
refreshed within three ``queue.heartbeat_interval``; see ``engine.queue.heartbeat``):

- a **lease**: an execution RUNNING past its ``lease_until`` (the workflow's timeout +
  30 s) whose worker is not alive. A flush hands it back the way the sweeper does
  (``engine.queue.sweeper.reclaim_lost``): retry with ``retry_count + 1``, FAILED "worker lost"
  when retries are spent, CANCELLED when a cancel was asked; retries are enqueued and
  resume after the last finished step. Every running worker's sweeper does the same
  within ``queue.sweep_interval`` — for live workers' runs too — so a flush matters most
  when no worker runs. A run whose worker is alive is never touched, and a dead worker's
  run whose lease has not ended is only counted: a heartbeat can lag, the lease is the
  bound the executor holds itself to, so releasing earlier could run a step twice. (The
  sweeper does release it early once the worker is dead for certain — on this host, its
  pid is gone too; see ``engine.queue.heartbeat.dead_workers``.)
- a **Huey lock** (``engine.queue.locks``) whose recorded holder is not alive. A plain
  ``huey.lock_task`` lock names no holder: it counts as stale only while no worker at
  all is alive (what ``huey_consumer --flush-locks`` assumes at start).

A flush needs ``Permission.EDIT`` (ADMIN, as all maintenance), releases only what its
plan listed and is still stale when it runs, and is audited (``maintenance.flush_locks``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.core_tables import EXECUTION, RUNNING
from engine.db import Database, first_line
from engine.plain_reads.queue_report import (
    QueueLock,
    QueueReport,
    StaleLease,
    execution_figures,
    held_by,
    lock_is_stale,
    process_of,
    queue_report,
    worker_liveness,
)
from engine.plain_reads.reader import Reader
from engine.queue.locks import HeldLock, held_locks, release_if_unchanged

if TYPE_CHECKING:
    from huey import Huey

    from engine.queue.sweeper import SweepReport
    from engine.triggers.new_executions import Dispatcher

# The lightweight table: a flush's UPDATE names it.
E = EXECUTION.c
FLUSH_ACTION = "maintenance.flush_locks"
AUDITED_IDS = 100
"""The audit row names this many of the planned executions (and counts them all)."""


@dataclass(frozen=True)
class FlushResult:
    """What a flush released, and what it left because it was no longer stale."""

    retried: int
    failed: int
    cancelled: int
    skipped: int
    """Planned leases claimed, finished or renewed since the plan (left alone)."""
    locks_released: list[str]
    locks_kept: list[str]
    """Planned locks taken again or whose holder beats again (left alone)."""
    enqueue_error: str | None = None
    """The queue refused the retries; the sweeper enqueues them later."""

    @property
    def leases_released(self) -> int:
        """Executions handed back, failed or cancelled."""
        return self.retried + self.failed + self.cancelled


def alive_processes(db: Database, *, now: datetime, interval: float) -> tuple[set[str], int]:
    """The worker id of every process that beats, and how many heartbeat rows went quiet."""
    with Reader.of_engine(db.read_engine) as reader:
        return worker_liveness(reader, now=now, interval=interval)


def _not_alive(alive: set[str], c: Any = E) -> sa.ColumnElement[bool]:
    return sa.or_(c.worker_id.is_(None), c.worker_id.not_in(sorted(held_by(alive))))


def stale_lease_condition(alive: set[str], now: datetime, c: Any = E) -> sa.ColumnElement[bool]:
    """RUNNING past the lease, held by no live worker (over the columns ``c`` of the
    statement it goes into: the lightweight table's by default)."""
    return sa.and_(c.status == RUNNING, c.lease_until < now, _not_alive(alive, c))


def inspect_queue(
    db: Database, huey: Huey, *, heartbeat_interval: float, now: datetime | None = None
) -> QueueReport:
    """Queue messages, PENDING/RUNNING counts, workers and the stale locks; reads only."""
    return inspect_opened_queue(db, lambda: huey, heartbeat_interval=heartbeat_interval, now=now)


def inspect_opened_queue(
    db: Database,
    open_queue: Callable[[], Huey],
    *,
    heartbeat_interval: float,
    now: datetime | None = None,
) -> QueueReport:
    """``inspect_queue`` of the queue ``open_queue`` opens: a queue that cannot be opened
    (a local queue file that is not a database) is the queue's state, as one that does
    not answer."""
    with Reader.of_engine(db.read_engine) as reader:
        figures = execution_figures(
            reader, now=now or datetime.now(UTC), heartbeat_interval=heartbeat_interval
        )
    try:
        huey = open_queue()
        queued, scheduled = huey.pending_count(), huey.scheduled_count()
        locks = held_locks(huey)
    except Exception as exc:  # shown as the queue's state; the database figures stand
        return queue_report(figures, queued=None, scheduled=None, queue_error=first_line(exc))
    return queue_report(figures, queued=queued, scheduled=scheduled, locks=locks)


def flush_stale_locks(
    db: Database,
    huey: Huey,
    queue: Dispatcher,
    plan: QueueReport,
    *,
    actor: str,
    heartbeat_interval: float,
) -> FlushResult:
    """Release what ``plan`` listed as stale and still is; needs EDIT; audited.

    Liveness is read again first, and every release is conditional (an UPDATE repeating
    the stale test, a lock deleted only while it holds the value read), so a run claimed
    or a lock taken since the plan is left alone.
    """
    # Only a flush writes: its modules stay out of the start of a command that reads.
    from engine.access.audit import record_outcome, require_permission
    from engine.access.roles import Permission
    from engine.execution.claims import E as claimed  # the table the sweeper's UPDATE names
    from engine.queue.sweeper import SweepReport, reclaim_lost

    require_permission(db, actor, Permission.EDIT)
    report = SweepReport()
    planned = [lease.execution_id for lease in plan.stale_leases]
    looked_at = 0
    released: list[str] = []
    kept: list[str] = []
    failure: BaseException | None = None
    try:
        now = datetime.now(UTC)
        alive, _ = alive_processes(db.on_primary(), now=now, interval=heartbeat_interval)
        for start in range(0, len(planned), 500):
            chunk = planned[start : start + 500]
            stale = sa.and_(claimed.id.in_(chunk), stale_lease_condition(alive, now, claimed))
            reclaim_lost(db, stale, now=now, report=report, batch=len(chunk),
                         note=f"worker lost; lease flushed by {actor}")  # fmt: skip
            looked_at += len(chunk)
        for entry in plan.stale_locks:
            gone = lock_is_stale(entry.lock, alive) and release_if_unchanged(huey, entry.lock)
            (released if gone else kept).append(entry.name)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        # Leases handed back stay handed back: a flush that fails partway says how far it got.
        details: dict[str, object] = {
            "executions": planned[:AUDITED_IDS], "planned": len(planned),
            "retried": report.retried, "failed": report.failed,
            "cancelled": report.cancelled, "skipped": looked_at - _released(report),
            "locks_released": released, "locks_kept": kept, "completed": failure is None,
        }  # fmt: skip
        if failure is not None:
            details["error"] = first_line(failure)
        record_outcome(db, actor=actor, action=FLUSH_ACTION, target_type="queue",
                       details=details, failure=failure)  # fmt: skip
    enqueue_error = None
    if report.enqueue:
        try:
            for execution_id in report.enqueue:
                queue.dispatch(execution_id)
        except Exception as exc:  # PENDING rows stay; the sweeper enqueues them later
            enqueue_error = first_line(exc)
    return FlushResult(
        retried=report.retried,
        failed=report.failed,
        cancelled=report.cancelled,
        skipped=len(planned) - _released(report),
        locks_released=released,
        locks_kept=kept,
        enqueue_error=enqueue_error,
    )


def _released(report: SweepReport) -> int:
    return report.retried + report.failed + report.cancelled


__all__ = [
    "FlushResult", "HeldLock", "QueueLock", "QueueReport", "StaleLease",
    "alive_processes", "flush_stale_locks", "held_by", "inspect_opened_queue", "inspect_queue",
    "process_of", "stale_lease_condition",
]  # fmt: skip
