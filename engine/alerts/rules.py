"""What each alert rule measures, and whether it is breached at ``now``.

Every rule returns the subjects it finds breached (``{subject: Breach}``), or ``None``
when it cannot tell (the queue did not answer): then its open incidents stay as they are
rather than being resolved by a measurement that never happened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter

from engine.config import Settings
from engine.db import Database
from engine.models import ExecutionStatus, Workflow, WorkflowExecution, WorkflowTrigger, table_of
from engine.services.metrics import QueueCounter, active_executions, utc
from engine.services.workers import list_workers
from engine.triggers.schedule import next_fire_times

_executions = table_of(WorkflowExecution)
_workflows = table_of(Workflow)
_triggers = table_of(WorkflowTrigger)
QUEUE_SUBJECT = "queue"
WORKERS_SUBJECT = "workers"


@dataclass(frozen=True)
class Breach:
    """A rule's condition holding for one subject: what to say and the measured figure."""

    message: str
    value: float | None = None


Findings = dict[str, Breach] | None


def failure_rate(db: Database, settings: Settings, now: datetime) -> Findings:
    """Workflows whose FAILED share of SUCCESS + FAILED runs finished in the window is
    above the threshold, with at least ``failure_rate_min_executions`` such runs.

    Cancelled and skipped runs count neither way. Served by ``idx_execution_completed``.
    """
    alerts = settings.alerts
    since = now - timedelta(minutes=alerts.window_minutes)
    completed, status = _executions.c.completed_at, _executions.c.status
    failed = sa.func.count().filter(status == ExecutionStatus.FAILED.value)
    grouped = (
        sa.select(_executions.c.workflow_id, sa.func.count().label("runs"), failed.label("failed"))
        .where(
            completed > since,
            completed <= now,
            status.in_([ExecutionStatus.SUCCESS.value, ExecutionStatus.FAILED.value]),
        )
        .group_by(_executions.c.workflow_id)
        .subquery()
    )
    query = sa.select(_workflows.c.name, grouped.c.runs, grouped.c.failed).join(
        grouped, grouped.c.workflow_id == _workflows.c.id
    )
    with db.read_engine.connect() as conn:
        rows = conn.execute(query).all()
    found: dict[str, Breach] = {}
    for name, runs, failures in rows:
        share = failures / runs
        if runs >= alerts.failure_rate_min_executions and share > alerts.failure_rate_threshold:
            found[name] = Breach(
                f"{failures} of {runs} runs failed in the last {alerts.window_minutes} min "
                f"({share:.0%} > {alerts.failure_rate_threshold:.0%})",
                share,
            )
    return found


def queue_depth(
    db: Database, settings: Settings, now: datetime, queue_counter: QueueCounter | None
) -> Findings:
    """Messages waiting in the queue above ``queue_depth_threshold``.

    Without a queue counter, the executions due and not picked up (PENDING rows whose
    ``available_at`` has passed) stand in for the messages. A queue that does not answer
    gives no finding: the health check reports that, not this rule.
    """
    if queue_counter is not None:
        try:
            depth, what = queue_counter.pending_count(), "messages queued"
        except Exception:
            return None
    else:
        active = active_executions(db, now=now)
        depth, what = active.pending - active.pending_later, "executions waiting"
    threshold = settings.alerts.queue_depth_threshold
    if depth <= threshold:
        return {}
    return {QUEUE_SUBJECT: Breach(f"{depth} {what} (threshold {threshold})", float(depth))}


def no_worker(db: Database, settings: Settings, now: datetime) -> Findings:
    """No worker process alive (heartbeat within 3 intervals).

    ``no_worker = "auto"`` checks only with a Redis queue: with the local queue the worker
    runs inside the console and ``serve``, so none being alive while neither is open is
    the normal state of a laptop, not an incident.
    """
    mode = settings.alerts.no_worker
    if mode == "never" or (mode == "auto" and not settings.uses_redis):
        return {}
    workers = list_workers(db, now=now, interval=settings.queue.heartbeat_interval)
    if any(worker.alive for worker in workers):
        return {}
    last = max((worker.last_seen_at for worker in workers), default=None)
    seen = f"; last seen {last:%Y-%m-%d %H:%M:%S} UTC" if last else "; none ever seen"
    return {WORKERS_SUBJECT: Breach(f"no worker process alive{seen}", 0.0)}


def previous_fire_time(cron: str, timezone: str, at: datetime) -> datetime | None:
    """The last time ``cron`` fired at or before ``at`` (aware UTC), by the cron tick's
    daylight-saving rules (``engine.triggers.schedule``); None when it never did."""
    try:
        local = at.astimezone(ZoneInfo(timezone))
        iterator = croniter(cron, local)
        iterator.get_prev(datetime)
        anchor: datetime = iterator.get_prev(datetime)
        # Replay forward from two fire times back with the tick's own rules: croniter's
        # backward answers differ from them around daylight-saving changes.
        candidates = next_fire_times(cron, timezone, n=4, after=anchor - timedelta(seconds=1))
    except (ValueError, KeyError):
        return None
    due = [moment for moment in candidates if moment <= at]
    return due[-1] if due else None


def schedule_missed(db: Database, settings: Settings, now: datetime) -> Findings:
    """Enabled workflows whose schedule should have fired more than the grace ago and has
    no scheduled run since that fire time.

    A fire time before the workflow was last saved or switched on is not expected (the
    workflow may not have existed or been enabled then).
    """
    grace = timedelta(minutes=settings.alerts.schedule_missed_grace_minutes)
    cutoff = now - grace
    query = (
        sa.select(_workflows.c.id, _workflows.c.name, _workflows.c.triggers,
                  _workflows.c.updated_at)
        .where(_workflows.c.enabled.is_(True))
        .where(sa.exists().where(_triggers.c.workflow_id == _workflows.c.id,
                                 _triggers.c.type == "schedule"))
    )  # fmt: skip
    found: dict[str, Breach] = {}
    with db.read_engine.connect() as conn:
        for workflow_id, name, triggers, updated_at in conn.execute(query).all():
            expected = _latest_expected(triggers, cutoff)
            if expected is None or expected < utc(updated_at):
                continue
            ran = conn.execute(
                sa.select(sa.literal(1))
                .where(
                    _executions.c.workflow_id == workflow_id,
                    _executions.c.created_at >= expected,
                    _executions.c.trigger_type == "schedule",
                )
                .limit(1)
            ).first()
            if ran is None:
                late = int((now - expected).total_seconds() // 60)
                found[name] = Breach(
                    f"scheduled run due {expected:%Y-%m-%d %H:%M} UTC has not started "
                    f"({late} min late)",
                    float(late),
                )
    return found


def _latest_expected(triggers: list[dict[str, Any]] | None, cutoff: datetime) -> datetime | None:
    times = [
        previous_fire_time(str(t.get("cron", "")), str(t.get("timezone") or "UTC"), cutoff)
        for t in triggers or []
        if t.get("type") == "schedule"
    ]
    known = [moment for moment in times if moment is not None]
    return max(known) if known else None


RuleCheck = Callable[[Database, Settings, datetime, QueueCounter | None], Findings]
RULES: dict[str, RuleCheck] = {
    "failure_rate": lambda db, settings, now, _queue: failure_rate(db, settings, now),
    "queue_depth": queue_depth,
    "no_worker": lambda db, settings, now, _queue: no_worker(db, settings, now),
    "schedule_missed": lambda db, settings, now, _queue: schedule_missed(db, settings, now),
}
"""Every rule by its name in ``alerts.rules``."""
