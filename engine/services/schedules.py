"""Schedules: the board of every schedule trigger, and backfill of the fire times it missed.

A fire time is "ran" when an execution with its key exists: the cron tick keys each one
``<workflow id>:<trigger position>:<fire time, ISO UTC>`` (``engine.triggers.cron``), and so
does backfill, so a time that ran is never run twice and a second backfill creates
nothing. The board walks the fire times of a window (the last 24 h by default, never
before the workflow's current version was saved: an earlier cron is not this one) and
reports those with no execution (gaps) and those that started late.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from engine.access.audit import authorize
from engine.access.roles import Permission
from engine.db import Database, session_scope
from engine.models import (
    AuditLog,
    Workflow,
    WorkflowExecution,
    WorkflowTrigger,
    table_of,
    utcnow,
)
from engine.triggers import ingress
from engine.triggers.new_executions import Dispatcher, _row, dispatch_all, insert_once
from engine.triggers.schedule import MAX_COUNT, next_fire_times
from engine.workflow_cache.lookups import WorkflowNotFound

MAX_FIRE_TIMES = 10_000
"""Fire times one board window or one backfill may walk per trigger (an error beyond)."""
DEFAULT_WINDOW = timedelta(hours=24)
DEFAULT_LATE_AFTER = timedelta(seconds=60)

E = table_of(WorkflowExecution).c
T = table_of(WorkflowTrigger).c
W = table_of(Workflow).c


class TooManyFireTimes(ValueError):
    """The range holds more fire times than ``MAX_FIRE_TIMES``."""


@dataclass(frozen=True)
class ScheduleTrigger:
    """One schedule trigger of a workflow, as stored."""

    workflow_id: str
    workflow: str
    version: int
    enabled: bool
    position: int
    cron: str
    timezone: str
    next_fire_at: datetime | None
    since: datetime
    """When the workflow's current version was saved: fire times before it are not gaps."""

    def key(self, fire: datetime) -> str:
        """The execution key of one fire time, exactly as the cron tick writes it."""
        return f"{self.workflow_id}:{self.position}:{fire.isoformat()}"


@dataclass(frozen=True)
class LateStart:
    fire_time: datetime
    started_at: datetime

    @property
    def late_seconds(self) -> float:
        return (self.started_at - self.fire_time).total_seconds()

    def as_json(self) -> dict[str, Any]:
        return {
            "fire_time": _iso(self.fire_time),
            "started_at": _iso(self.started_at),
            "late_seconds": round(self.late_seconds, 3),
        }


@dataclass
class ScheduleStatus:
    """One row of the board."""

    trigger: ScheduleTrigger
    fire_times: int = 0
    """Fire times in the window (since the current version was saved)."""
    gaps: list[datetime] = field(default_factory=list)
    late: list[LateStart] = field(default_factory=list)
    last_run_at: datetime | None = None
    last_run_status: str | None = None
    last_success_at: datetime | None = None

    def as_json(self, now: datetime) -> dict[str, Any]:
        t = self.trigger
        return {
            "workflow": t.workflow,
            "trigger": t.position,
            "cron": t.cron,
            "timezone": t.timezone,
            "enabled": t.enabled,
            "next_fire_at": _iso(t.next_fire_at),
            "last_run_at": _iso(self.last_run_at),
            "last_run_status": self.last_run_status,
            "last_success_at": _iso(self.last_success_at),
            "last_success_age_seconds": (
                None
                if self.last_success_at is None
                else round((now - self.last_success_at).total_seconds(), 3)
            ),
            "fire_times_in_window": self.fire_times,
            "gaps": [_iso(g) for g in self.gaps],
            "late": [late.as_json() for late in self.late],
        }


@dataclass(frozen=True)
class BackfillPlan:
    """What a backfill creates (or, with ``dry_run``, would create)."""

    workflow: str
    since: datetime
    until: datetime
    missing: list[tuple[int, datetime]]
    """(trigger position, fire time) without an execution, oldest first."""
    already_ran: int
    created: list[str] = field(default_factory=list)
    """The new execution ids (empty for a dry run)."""


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else _aware(moment).isoformat()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def schedule_triggers(db: Database, name: str | None = None) -> list[ScheduleTrigger]:
    """Every schedule trigger (of the workflow ``name`` only, when given), by workflow name."""
    query = (
        sa.select(T.workflow_id, T.position, T.next_fire_at, W.name, W.version, W.enabled,
                  W.triggers, W.updated_at)
        .join_from(table_of(WorkflowTrigger), table_of(Workflow), W.id == T.workflow_id)
        .where(T.type == "schedule")
        .order_by(W.name, T.position)
    )  # fmt: skip
    if name is not None:
        query = query.where(W.name == name)
    with db.read_engine.connect() as conn:
        rows = conn.execute(query).all()
    found = []
    for row in rows:
        definition = row.triggers[row.position] if row.position < len(row.triggers) else {}
        found.append(
            ScheduleTrigger(
                workflow_id=row.workflow_id, workflow=row.name, version=row.version,
                enabled=bool(row.enabled), position=row.position,
                cron=str(definition.get("cron", "")),
                timezone=str(definition.get("timezone") or "UTC"),
                next_fire_at=_aware(row.next_fire_at) if row.next_fire_at else None,
                since=_aware(row.updated_at),
            )
        )  # fmt: skip
    return found


def fire_times_between(trigger: ScheduleTrigger, start: datetime, end: datetime) -> list[datetime]:
    """The trigger's fire times in ``[start, end]``, oldest first (``TooManyFireTimes``
    beyond ``MAX_FIRE_TIMES``)."""
    times: list[datetime] = []
    after = start - timedelta(microseconds=1)  # next_fire_times is strictly after
    while True:
        batch = next_fire_times(trigger.cron, trigger.timezone, MAX_COUNT, after=after)
        for fire in batch:
            if fire > end:
                return times
            times.append(fire)
            if len(times) > MAX_FIRE_TIMES:
                raise TooManyFireTimes(
                    f"{trigger.workflow} trigger {trigger.position} ({trigger.cron}) fires more "
                    f"than {MAX_FIRE_TIMES:,} times between {start.isoformat()} and "
                    f"{end.isoformat()}: choose a shorter range"
                )
        if len(batch) < MAX_COUNT:
            return times
        after = batch[-1]


def _ran(conn: sa.Connection, keys: Sequence[str]) -> dict[str, datetime | None]:
    """The keys that have an execution, with its started_at (None: not started yet)."""
    found: dict[str, datetime | None] = {}
    for at in range(0, len(keys), 500):
        chunk = list(keys[at : at + 500])
        rows = conn.execute(sa.select(E.dedupe_key, E.started_at).where(E.dedupe_key.in_(chunk)))
        for key, started in rows:
            found[str(key)] = _aware(started) if started is not None else None
    return found


def _last(conn: sa.Connection, trigger: ScheduleTrigger, *, success: bool) -> Any:
    query = (
        sa.select(E.created_at, E.status)
        .where(E.workflow_id == trigger.workflow_id, E.trigger_type == "schedule")
        .where(E.dedupe_key.like(f"{trigger.workflow_id}:{trigger.position}:%"))
        .order_by(E.created_at.desc())
        .limit(1)
    )
    if success:
        query = query.where(E.status == "SUCCESS")
    return conn.execute(query).first()


def schedule_board(
    db: Database,
    *,
    now: datetime | None = None,
    window: timedelta = DEFAULT_WINDOW,
    late_after: timedelta = DEFAULT_LATE_AFTER,
) -> list[ScheduleStatus]:
    """Every schedule trigger with its last run, last success, gaps and late starts in the
    last ``window`` (fire times a few seconds old are not gaps yet: the tick may be due)."""
    now = now or utcnow()
    settled = now - timedelta(seconds=5)
    board = []
    with db.read_engine.connect() as conn:
        for trigger in schedule_triggers(db):
            status = ScheduleStatus(trigger)
            start = max(now - window, trigger.since)
            fires = fire_times_between(trigger, start, settled) if trigger.cron else []
            status.fire_times = len(fires)
            ran = _ran(conn, [trigger.key(fire) for fire in fires])
            for fire in fires:
                key = trigger.key(fire)
                if key not in ran:
                    status.gaps.append(fire)
                elif (started := ran[key]) is not None and started - fire > late_after:
                    status.late.append(LateStart(fire, started))
            last = _last(conn, trigger, success=False)
            if last is not None:
                status.last_run_at, status.last_run_status = _aware(last.created_at), last.status
            success = _last(conn, trigger, success=True)
            if success is not None:
                status.last_success_at = _aware(success.created_at)
            board.append(status)
    return board


def backfill(
    db: Database,
    queue: Dispatcher,
    name: str,
    *,
    since: datetime,
    until: datetime | None = None,
    dry_run: bool = False,
    actor: str,
    now: datetime | None = None,
) -> BackfillPlan:
    """One execution per fire time of the workflow's schedule triggers in ``[since, until]``
    (until defaults to now) that has none; keyed as the cron tick keys them, so a fire time
    that ran, or was backfilled before, is never run again. OPERATOR; audited.
    """
    now = now or utcnow()
    until = min(until or now, now)
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    if since > until:
        raise ValueError(f"since ({since.isoformat()}) is after until ({until.isoformat()})")
    with session_scope(db) as session:
        authorize(session, actor, Permission.OPERATE)
    triggers = schedule_triggers(db, name)
    if not triggers:
        if not _workflow_exists(db, name):
            raise WorkflowNotFound(name)
        raise ValueError(f"workflow {name!r} has no schedule trigger")
    wanted: list[tuple[ScheduleTrigger, datetime]] = [
        (trigger, fire)
        for trigger in triggers
        for fire in fire_times_between(trigger, since, until)
    ]
    with db.engine.connect() as conn:
        ran = _ran(conn, [t.key(fire) for t, fire in wanted])
    missing = sorted(
        ((t, fire) for t, fire in wanted if t.key(fire) not in ran), key=lambda x: x[1]
    )
    plan = BackfillPlan(
        workflow=name, since=since, until=until,
        missing=[(t.position, fire) for t, fire in missing], already_ran=len(ran),
    )  # fmt: skip
    if dry_run or not missing:
        return plan
    rows = []
    for trigger, fire in missing:
        row = _row(trigger.workflow_id, trigger.version, "schedule", {
            "scheduled_for": fire.isoformat(), "cron": trigger.cron,
            "timezone": trigger.timezone, "missed": 0, "backfill": True,
        }, now, 0)  # fmt: skip
        row["dedupe_key"] = trigger.key(fire)
        rows.append(row)
    ingress.decide(db, rows)  # false conditions: stored SKIPPED, not enqueued
    with db.engine.begin() as conn:
        started = insert_once(conn, rows)
        conn.execute(
            sa.insert(table_of(AuditLog)).values(
                timestamp=now, actor=actor, action="schedule.backfill", target_type="workflow",
                target_id=triggers[0].workflow_id,
                details={"name": name, "since": since.isoformat(), "until": until.isoformat(),
                         "created": len(started)},
            )
        )  # fmt: skip
    dispatch_all(queue, started.to_enqueue)
    plan.created.extend(started)
    return plan


def _workflow_exists(db: Database, name: str) -> bool:
    with db.read_engine.connect() as conn:
        return conn.execute(sa.select(W.id).where(W.name == name)).first() is not None
