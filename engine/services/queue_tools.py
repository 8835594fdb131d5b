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

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.core_tables import EXECUTION, PENDING, RUNNING, WORKFLOW
from engine.db import Database, first_line
from engine.queue.locks import HeldLock, held_locks, release_if_unchanged
from engine.services.workers import list_workers

if TYPE_CHECKING:
    from huey import Huey

    from engine.queue.sweeper import SweepReport
    from engine.triggers.new_executions import Dispatcher

# The lightweight tables: ``maintenance queue`` reads counts and a few leases, no model.
E, W, WORKFLOWS = EXECUTION.c, WORKFLOW.c, WORKFLOW
FLUSH_ACTION = "maintenance.flush_locks"
LISTED_LEASES = 1000
"""At most this many stale leases are listed (and released by one flush)."""
AUDITED_IDS = 100
"""The audit row names this many of the planned executions (and counts them all)."""


@dataclass(frozen=True)
class StaleLease:
    """A RUNNING execution past its lease whose worker does not beat."""

    execution_id: str
    workflow: str
    worker_id: str | None
    lease_until: datetime


@dataclass(frozen=True)
class QueueLock:
    """A Huey lock and whether a flush would release it."""

    lock: HeldLock
    stale: bool

    @property
    def name(self) -> str:
        """The lock's name."""
        return self.lock.name


@dataclass(frozen=True)
class QueueReport:
    """The queue and the executions waiting on it, as the maintenance screen shows them."""

    taken_at: datetime
    queued: int | None
    """Messages waiting in the queue (None when the queue did not answer)."""
    scheduled: int | None
    """Messages scheduled for later: delayed retries and re-checks. (A worker moves a delayed
    message here when it reads it; until then it counts as queued.)"""
    queue_error: str | None
    pending_due: int
    """PENDING executions due now."""
    pending_later: int
    """PENDING executions waiting for their retry delay."""
    running: int
    running_expired: int
    """RUNNING past their lease (the sweeper takes these back, whoever holds them)."""
    held_by_dead: int
    """RUNNING, lease not ended yet, held by a worker that does not beat."""
    workers_alive: int
    workers_dead: int
    stale_leases: list[StaleLease] = field(default_factory=list)
    """The oldest ``LISTED_LEASES`` stale leases (``stale_lease_total`` counts them all)."""
    locks: list[QueueLock] = field(default_factory=list)
    stale_lease_total: int | None = None
    """Every stale lease, listed or not (None: not counted, as in reports built by hand)."""

    @property
    def unlisted_leases(self) -> int:
        """Stale leases beyond the listed ones (a flush releases the listed ones only)."""
        if self.stale_lease_total is None:
            return 0
        return max(0, self.stale_lease_total - len(self.stale_leases))

    @property
    def stale_locks(self) -> list[QueueLock]:
        """The Huey locks a flush would release."""
        return [lock for lock in self.locks if lock.stale]

    @property
    def nothing_stale(self) -> bool:
        """True when a flush would release nothing."""
        return not self.stale_leases and not self.stale_locks


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


def process_of(worker_id: str) -> str:
    """``host:pid`` of a heartbeat's worker id (``host:pid:tag``), as older claims recorded it."""
    return worker_id.rsplit(":", 1)[0]


def alive_processes(db: Database, *, now: datetime, interval: float) -> tuple[set[str], int]:
    """The worker id of every process that beats, and how many heartbeat rows went quiet."""
    workers = list_workers(db, now=now, interval=interval)
    alive = {w.worker_id for w in workers if w.alive}
    processes = {process_of(worker_id) for worker_id in alive}
    dead = sum(1 for w in workers if not w.alive and process_of(w.worker_id) not in processes)
    return alive, dead


def held_by(alive: set[str]) -> set[str]:
    """What claims and locks of live workers carry: their worker id, or (older) ``host:pid``."""
    return alive | {process_of(worker_id) for worker_id in alive}


def _not_alive(alive: set[str], c: Any = E) -> sa.ColumnElement[bool]:
    return sa.or_(c.worker_id.is_(None), c.worker_id.not_in(sorted(held_by(alive))))


def stale_lease_condition(alive: set[str], now: datetime, c: Any = E) -> sa.ColumnElement[bool]:
    """RUNNING past the lease, held by no live worker (over the columns ``c`` of the
    statement it goes into: the lightweight table's by default)."""
    return sa.and_(c.status == RUNNING, c.lease_until < now, _not_alive(alive, c))


def _lock_is_stale(lock: HeldLock, alive: set[str]) -> bool:
    return lock.owner not in held_by(alive) if lock.owner is not None else not alive


def inspect_queue(
    db: Database, huey: Huey, *, heartbeat_interval: float, now: datetime | None = None
) -> QueueReport:
    """Queue messages, PENDING/RUNNING counts, workers and the stale locks; reads only."""
    now = now or datetime.now(UTC)
    alive, dead = alive_processes(db, now=now, interval=heartbeat_interval)
    counts = sa.select(
        sa.func.count().filter(E.status == PENDING, E.available_at <= now),
        sa.func.count().filter(E.status == PENDING, E.available_at > now),
        sa.func.count().filter(E.status == RUNNING),
        sa.func.count().filter(E.status == RUNNING, E.lease_until < now),
        sa.func.count().filter(E.status == RUNNING, E.lease_until >= now, _not_alive(alive)),
        sa.func.count().filter(stale_lease_condition(alive, now)),
    ).where(E.status.in_([PENDING, RUNNING]))
    stale = (
        sa.select(E.id, W.name, E.worker_id, E.lease_until)
        .join(WORKFLOWS, W.id == E.workflow_id)
        .where(stale_lease_condition(alive, now))
        .order_by(E.lease_until, E.id)
        .limit(LISTED_LEASES)
    )
    with db.read_engine.connect() as conn:
        due, later, running, expired, held_by_dead, stale_total = conn.execute(counts).one()
        leases = [StaleLease(*row) for row in conn.execute(stale)]
    queued: int | None = None
    scheduled: int | None = None
    error: str | None = None
    locks: list[QueueLock] = []
    try:
        queued, scheduled = huey.pending_count(), huey.scheduled_count()
        locks = [QueueLock(lock, _lock_is_stale(lock, alive)) for lock in held_locks(huey)]
    except Exception as exc:  # shown as the queue's state; the database figures stand
        error = first_line(exc)
    return QueueReport(
        taken_at=now, queued=queued, scheduled=scheduled, queue_error=error,
        pending_due=int(due), pending_later=int(later), running=int(running),
        running_expired=int(expired), held_by_dead=int(held_by_dead),
        workers_alive=len(alive), workers_dead=dead, stale_leases=leases, locks=locks,
        stale_lease_total=int(stale_total),
    )  # fmt: skip


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
            gone = _lock_is_stale(entry.lock, alive) and release_if_unchanged(huey, entry.lock)
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
