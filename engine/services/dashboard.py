"""Everything the console dashboard shows, gathered in one call per refresh."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.db import Database
from engine.services.executions import ExecutionRow
from engine.services.health import ComponentHealth, HealthReport, first_line
from engine.services.metrics import (
    ActiveExecutions,
    FailingWorkflow,
    MinuteActivity,
    PeriodSummary,
    QueueCounter,
    QueueMessages,
    active_executions,
    latest_failures,
    minute_activity,
    period_summary,
    queue_messages,
    top_failing_workflows,
    utc,
)
from engine.services.workers import WorkerStatus, list_workers
from engine.services.workflow_list import paused_workflow_names

TOP_FAILING = 10
LATEST_FAILURES = 10
# The 24 h figures read a day of rows; they move slowly, so they are read this often.
DAY_REFRESH = timedelta(seconds=30)


@dataclass(frozen=True)
class DashboardMetrics:
    """One refresh of the dashboard."""

    taken_at: datetime
    messages: QueueMessages | None
    """None when the queue did not answer (``queue_error`` says why)."""
    queue_error: str | None
    active: ActiveExecutions
    last_hour: MinuteActivity
    last_day: PeriodSummary
    top_failing: list[FailingWorkflow]
    day_taken_at: datetime
    """When ``last_day`` and ``top_failing`` were read (at most ``DAY_REFRESH`` ago)."""
    latest_failures: list[ExecutionRow]
    workers: list[WorkerStatus]
    paused_workflows: list[str] = field(default_factory=list)
    """Names of the paused workflows (``workflow pause``): the console's banner."""

    @property
    def paused_count(self) -> int:
        """How many workflows are paused."""
        return len(self.paused_workflows)

    @property
    def health(self) -> HealthReport:
        """What this refresh says about the database (it answered) and the queue."""
        queue = ComponentHealth(self.queue_error is None, self.queue_error or "")
        return HealthReport(database=ComponentHealth(True), queue=queue)

    @property
    def workers_alive(self) -> int:
        """Worker processes seen within 3 heartbeat intervals."""
        return sum(1 for worker in self.workers if worker.alive)


def collect_dashboard(
    db: Database,
    queue: QueueCounter,
    *,
    now: datetime,
    heartbeat_interval: float,
    previous: DashboardMetrics | None = None,
) -> DashboardMetrics:
    """Every dashboard figure at ``now``; raises when the database fails, not the queue.

    With ``previous`` (the last refresh), settled minutes of the hour are not counted
    again and the 24 h figures are reused while younger than ``DAY_REFRESH``.
    """
    now = utc(now)
    messages: QueueMessages | None = None
    queue_error: str | None = None
    try:
        messages = queue_messages(queue)
    except Exception as exc:  # the queue being down is a figure, not a failed refresh
        queue_error = first_line(exc)
    if previous is not None and timedelta(0) <= now - previous.day_taken_at < DAY_REFRESH:
        last_day, top_failing, day_taken_at = (
            previous.last_day, previous.top_failing, previous.day_taken_at
        )  # fmt: skip
    else:
        last_day = period_summary(db, now=now)
        top_failing = top_failing_workflows(db, now=now, limit=TOP_FAILING)
        day_taken_at = now
    return DashboardMetrics(
        taken_at=now,
        messages=messages,
        queue_error=queue_error,
        active=active_executions(db, now=now),
        last_hour=minute_activity(
            db, now=now, previous=previous.last_hour if previous is not None else None
        ),
        last_day=last_day,
        top_failing=top_failing,
        day_taken_at=day_taken_at,
        latest_failures=latest_failures(db, limit=LATEST_FAILURES),
        workers=list_workers(db, now=now, interval=heartbeat_interval),
        paused_workflows=paused_workflow_names(db),
    )
