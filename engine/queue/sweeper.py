"""The sweeper: takes back executions whose worker died and finds runs the queue lost.

A run is taken back when its lease expired, or earlier when its worker is dead for certain
(``engine.queue.heartbeat.dead_workers``: heartbeat silent and, on this host, pid gone), so a
killed consumer's runs stop counting against ``workflow.max_concurrent_executions`` within
seconds instead of a lease (timeout + 30 s) later.

It only changes rows with conditional UPDATEs, so any number of consumers may sweep at
once. It returns the ids to enqueue; the queue layer enqueues them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from engine.db import Database
from engine.execution.claims import (
    EXECUTIONS,
    LOGS,
    PENDING,
    RUNNING,
    WORKFLOWS,
    E,
    W,
    bump_counters,
)
from engine.execution.error_signature import normalise_error
from engine.models import ExecutionStatus, LogLevel, utcnow
from engine.queue.heartbeat import (
    REMOTE_DEAD_AFTER,
    REMOTE_DEAD_INTERVALS,
    dead_workers,
    last_beat,
    silent_worker,
)

log = logging.getLogger("wfconsole.sweeper")
STALE_PENDING = timedelta(seconds=30)
WORKER_LOST = "worker lost"
WORKER_LOST_SIGNATURE = normalise_error(WORKER_LOST)


@dataclass
class SweepReport:
    """What one pass did: ids to enqueue now, and how many were given up."""

    enqueue: list[str] = field(default_factory=list)
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    look_again_soon: bool = False
    """Rows a dead worker (or a lost queue) may have orphaned still wait behind a backlog
    that may or may not hold their messages: the next pass should not wait a whole
    ``queue.sweep_interval``."""


def sweep(
    db: Database,
    *,
    now: datetime | None = None,
    batch: int = 1000,
    queue_depth: int = 0,
    heartbeat_interval: float | None = None,
    queue_emptied: bool = False,
) -> SweepReport:
    """One pass: lost runs go to retry or FAILED; long-due PENDING rows are re-enqueued.

    A run is lost when its lease expired or, given ``heartbeat_interval``
    (``queue.heartbeat_interval``), when its worker is dead for certain. A PENDING row is
    overdue once it has been due for ``STALE_PENDING`` — or, in the ``STALE_PENDING`` after a
    worker died, once it was due while that worker lived: the dead worker may have popped
    its message and not claimed it yet, and waiting 30 s for it would hold the run up.
    ``queue_depth`` is how many messages wait in the queue right now: that many overdue
    rows may simply be waiting their turn behind a backlog, so only the excess is
    re-enqueued (all of them once the queue has drained). ``queue_emptied`` (the queue
    lost its messages, e.g. a Redis restarted without persistence) makes every due
    PENDING row overdue at once. A message enqueued twice runs once (the claim is
    conditional), so a row a live worker holds is never run again.
    """
    now = now or utcnow()
    report = SweepReport()
    _expired_leases(db, now, batch, report)
    cutoff = now if queue_emptied else now - STALE_PENDING
    if heartbeat_interval is not None:
        dead = _dead_workers(db, now, batch, heartbeat_interval, report)
        cutoff = max(cutoff, _orphan_cutoff(db, dead, now, heartbeat_interval))
    _stale_pending(db, cutoff, now, batch, queue_depth, report)
    if report.retried or report.failed or report.enqueue:
        log.info(
            "sweep: %d lost run(s) retried, %d failed, %d re-enqueued",
            report.retried,
            report.failed,
            len(report.enqueue),
        )
    return report


def _expired_leases(db: Database, now: datetime, batch: int, report: SweepReport) -> None:
    reclaim_lost(db, sa.and_(E.status == RUNNING, E.lease_until < now), now=now, batch=batch,
                 report=report)  # fmt: skip


def _dead_workers(
    db: Database, now: datetime, batch: int, interval: float, report: SweepReport
) -> list[str]:
    """Runs held by a worker that is dead for certain: back before their lease expires.

    Returns the dead workers' ids.
    """
    dead = dead_workers(db, interval=interval, now=now)
    if not dead:
        return dead
    before = report.retried + report.failed + report.cancelled
    # Repeating the silence in the UPDATE keeps the claims of a worker that beat again
    # (one whose pid is gone in our pid namespace cannot).
    lost = sa.and_(
        E.worker_id.in_(dead),
        sa.or_(
            E.worker_id.in_(sorted(dead.certain)),
            silent_worker(E.worker_id, interval=interval, now=now),
        ),
    )
    reclaim_lost(db, lost, now=now, batch=batch, report=report,
                 note=f"{WORKER_LOST} (its heartbeat stopped)")  # fmt: skip
    taken = report.retried + report.failed + report.cancelled - before
    if taken:
        log.warning("took back %d run(s) of dead worker(s) before their lease ended", taken)
    return dead


def _orphan_cutoff(db: Database, dead: list[str], now: datetime, interval: float) -> datetime:
    """Rows due before this may have had their message popped by a worker that died.

    The last beat of the most recent death, plus one interval (the worker may have lived
    until its next beat was due). Only for a death recent enough that the 30-second rule
    has not covered it yet (a death is certain some intervals after the last beat, a
    minute or more for another host): otherwise the epoch.
    """
    latest = last_beat(db, dead)
    proven_after = max(REMOTE_DEAD_AFTER, timedelta(seconds=REMOTE_DEAD_INTERVALS * interval))
    if latest is None or latest < now - proven_after - STALE_PENDING:
        return datetime.min.replace(tzinfo=now.tzinfo)
    return min(now, latest + timedelta(seconds=interval))


def reclaim_lost(
    db: Database,
    lost: sa.ColumnElement[bool],
    *,
    now: datetime,
    report: SweepReport,
    batch: int = 1000,
    note: str = "worker lost",
) -> None:
    """Take back RUNNING executions matching ``lost``: to retry, FAILED, or CANCELLED.

    Each row changes with a conditional UPDATE that repeats ``lost``, so a row claimed or
    finished meanwhile is left alone. ``note`` starts the log line of each row.
    """
    lost = sa.and_(E.status == RUNNING, lost)
    with db.engine.connect() as conn:
        expired = conn.execute(
            sa.select(
                E.id,
                E.workflow_id,
                E.retry_count,
                E.started_at,
                E.cancel_requested,
                W.max_retries,
            )
            .join(WORKFLOWS, W.id == E.workflow_id)
            .where(lost)
            .limit(batch)
        ).all()
    for row in expired:
        still_lost = sa.and_(E.id == row.id, lost)
        with db.engine.begin() as conn:
            if row.cancel_requested:
                # A retry's claim would clear the flag and run it again: honour the cancel.
                done = conn.execute(
                    sa.update(EXECUTIONS)
                    .where(still_lost)
                    .values(
                        status=ExecutionStatus.CANCELLED.value,
                        error="cancelled",
                        completed_at=now,
                        lease_until=None,
                    )
                ).rowcount
                if done:
                    report.cancelled += 1
                    bump_counters(conn, row.workflow_id, status=ExecutionStatus.CANCELLED.value,
                                  duration_ms=None, now=now)  # fmt: skip
                    _log(conn, row.id, LogLevel.WARNING, f"{note}; cancel requested: cancelled",
                         now)  # fmt: skip
                continue
            if row.retry_count < row.max_retries:
                done = conn.execute(
                    sa.update(EXECUTIONS)
                    .where(still_lost)
                    .values(
                        status=PENDING,
                        retry_count=E.retry_count + 1,
                        available_at=now,
                        lease_until=None,
                        worker_id=None,
                        error=WORKER_LOST,
                    )
                ).rowcount
                if done:
                    report.retried += 1
                    report.enqueue.append(row.id)
                    _log(conn, row.id, LogLevel.WARNING, f"{note}; handed back for retry", now)
                continue
            duration = (now - row.started_at).total_seconds() * 1000 if row.started_at else None
            done = conn.execute(
                sa.update(EXECUTIONS)
                .where(still_lost)
                .values(
                    status=ExecutionStatus.FAILED.value,
                    error=WORKER_LOST,
                    error_signature=WORKER_LOST_SIGNATURE,
                    completed_at=now,
                    duration_ms=duration,
                    lease_until=None,
                )
            ).rowcount
            if done:
                report.failed += 1
                bump_counters(
                    conn,
                    row.workflow_id,
                    status=ExecutionStatus.FAILED.value,
                    duration_ms=duration,
                    now=now,
                )
                _log(conn, row.id, LogLevel.ERROR, f"{note} and no retries left: failed", now)


def _stale_pending(
    db: Database,
    cutoff: datetime,
    now: datetime,
    batch: int,
    queue_depth: int,
    report: SweepReport,
) -> None:
    """PENDING rows due since before ``cutoff``: their message was lost (or never sent)."""
    # Runs of a paused workflow are held, not lost: resuming enqueues them.
    paused = sa.exists().where(W.id == E.workflow_id, W.paused_at.is_not(None))
    overdue = sa.and_(E.status == PENDING, E.available_at < cutoff, ~paused)
    with db.read_engine.connect() as conn:
        waiting = conn.execute(
            sa.select(sa.func.count()).select_from(
                sa.select(E.id).where(overdue).limit(batch + queue_depth).subquery()
            )
        ).scalar_one()
    excess = min(batch, waiting - queue_depth)
    if excess <= 0:
        # Not 30 s overdue but suspected (a death, a lost queue): look again once the
        # backlog has moved, rather than a whole interval later.
        report.look_again_soon = waiting > 0 and cutoff > now - STALE_PENDING
        return
    stale = sa.select(E.id).where(overdue).order_by(E.available_at).limit(excess).scalar_subquery()
    with db.engine.begin() as conn:
        # Touching available_at re-enqueues each row at most once per 30 s (and once per
        # death: ``now`` is past the cutoff of the deaths seen so far).
        ids = (
            conn.execute(
                sa.update(EXECUTIONS)
                .where(E.id.in_(stale), E.status == PENDING)
                .values(available_at=now)
                .returning(E.id)
            )
            .scalars()
            .all()
        )
        report.enqueue.extend(ids)


def _log(
    conn: sa.Connection, execution_id: str, level: LogLevel, message: str, now: datetime
) -> None:
    conn.execute(
        sa.insert(LOGS).values(
            execution_id=execution_id, level=level.value, message=message, timestamp=now
        )
    )
