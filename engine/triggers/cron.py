"""The cron tick: schedule triggers become executions, once each, whoever ticks.

Every worker process ticks (in its sweeper thread). A tick reads the schedule triggers
whose ``next_fire_at`` has passed, works out which fire times are due, and inserts one
execution per fire time under the unique key ``<workflow>:<trigger>:<fire time>``, so
two or more consumers ticking at once never double-fire: the second insert of a key does
nothing. Then ``next_fire_at`` moves to the first fire time after now.

A trigger seen for the first time (new, edited or just enabled) starts counting from
now: saving a workflow never fires it retroactively. Fire times missed while nothing
was running follow ``workflow.misfire_policy``:

- ``once`` (default): one execution for the most recent missed time;
- ``skip``: none, unless the fire time is less than ``workflow.misfire_grace`` seconds
  old (a tick that is merely a little late still fires);
- ``all``: one per missed time, the most recent ``workflow.misfire_max_runs`` of them.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter

from engine.config import Settings
from engine.db import Database
from engine.models import Workflow, WorkflowTrigger, table_of, utcnow
from engine.triggers import ingress
from engine.triggers.new_executions import Dispatcher, _row, dispatch_all, insert_once
from engine.triggers.schedule import next_fire_times

log = logging.getLogger("wfconsole.cron")
T = table_of(WorkflowTrigger).c
W = table_of(Workflow).c
SCAN_LIMIT = 1000  # missed fire times kept per trigger and tick (the latest ones)
MAX_WALK = 20_000  # fire times walked at most (every-minute cron: about 2 weeks)


@dataclass(frozen=True)
class Due:
    """One schedule trigger whose next fire time has passed."""

    trigger_id: int
    workflow_id: str
    version: int
    position: int
    cron: str
    timezone: str
    next_fire_at: datetime | None
    enabled: bool


def missed_fires(
    cron: str, timezone: str, first: datetime, now: datetime, *, limit: int = SCAN_LIMIT
) -> tuple[list[datetime], int]:
    """The latest ``limit`` fire times from ``first`` (itself one) up to ``now``, oldest
    first, and how many there were in all (counted up to ``MAX_WALK``)."""
    if first > now:
        return [], 0
    times: deque[datetime] = deque([first], maxlen=limit)
    total = 1
    while total < MAX_WALK:
        following = next_fire_times(cron, timezone, 1, after=times[-1])
        if not following or following[0] > now:
            break
        times.append(following[0])
        total += 1
    if total >= MAX_WALK:  # a very long outage: take the fire times just before now
        iterator = croniter(cron, now.astimezone(ZoneInfo(timezone)))
        recent = [iterator.get_prev(datetime).astimezone(UTC) for _ in range(limit)]
        times = deque(sorted(recent), maxlen=limit)
    return list(times), total


def choose(missed: list[datetime], now: datetime, settings: Settings) -> list[datetime]:
    """The fire times that run under the misfire policy."""
    if not missed:
        return []
    policy = settings.workflow.misfire_policy
    if policy == "all":
        return missed[-settings.workflow.misfire_max_runs :]
    latest = missed[-1]
    if policy == "skip" and now - latest > timedelta(seconds=settings.workflow.misfire_grace):
        return []
    return [latest]


def _due(conn: sa.Connection, now: datetime) -> list[Due]:
    rows = conn.execute(
        sa.select(T.id, T.workflow_id, T.position, T.key, T.next_fire_at, W.version,
                  W.enabled, W.triggers)
        .join_from(table_of(WorkflowTrigger), table_of(Workflow), W.id == T.workflow_id)
        .where(T.type == "schedule")
        .where(sa.or_(T.next_fire_at.is_(None), T.next_fire_at <= now))
    ).all()  # fmt: skip
    due = []
    for row in rows:
        trigger: dict[str, Any] = (
            row.triggers[row.position] if row.position < len(row.triggers) else {}
        )
        timezone = str(trigger.get("timezone") or "UTC")
        due.append(
            Due(row.id, row.workflow_id, row.version, row.position, str(row.key), timezone,
                row.next_fire_at, bool(row.enabled))
        )  # fmt: skip
    return due


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def cron_tick(
    db: Database, queue: Dispatcher, settings: Settings, *, now: datetime | None = None
) -> list[str]:
    """Fire what is due; returns the new execution ids (already enqueued)."""
    now = now or utcnow()
    created: list[str] = []
    to_enqueue: list[str] = []
    with db.engine.begin() as conn:
        for due in _due(conn, now):
            upcoming = next_fire_times(due.cron, due.timezone, 1, after=now)
            next_fire = upcoming[0] if upcoming else None
            if not due.enabled:
                # Disabled time is not missed time: start afresh when enabled again.
                if due.next_fire_at is None:
                    continue
                next_fire = None
            elif due.next_fire_at is not None:
                missed, total = missed_fires(due.cron, due.timezone, _aware(due.next_fire_at), now)
                rows = []
                for fire in choose(missed, now, settings):
                    row = _row(due.workflow_id, due.version, "schedule", {
                        "scheduled_for": fire.isoformat(), "cron": due.cron,
                        "timezone": due.timezone, "missed": total,
                    }, now, 0)  # fmt: skip
                    row["dedupe_key"] = f"{due.workflow_id}:{due.position}:{fire.isoformat()}"
                    rows.append(row)
                ingress.decide(db, rows)  # false conditions: stored SKIPPED, not enqueued
                started = insert_once(conn, rows)
                created.extend(started)
                to_enqueue.extend(started.to_enqueue)
            conn.execute(
                sa.update(table_of(WorkflowTrigger))
                .where(T.id == due.trigger_id)
                .values(next_fire_at=next_fire)
            )
    if created:
        log.info("cron tick started %d execution(s)", len(created))
        dispatch_all(queue, to_enqueue)
    return created
