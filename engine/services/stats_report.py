"""``wfconsole stats``: every statistic in one call, and its stable JSON document."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.db import Database, first_line
from engine.services.failure_reasons import FailureReason, failure_reasons
from engine.services.metrics import (
    ActiveExecutions,
    PeriodSummary,
    QueueCounter,
    QueueMessages,
    active_executions,
    period_summary,
    queue_messages,
    utc,
)
from engine.services.statistics import (
    CreatedDay,
    DayStats,
    DurationFigures,
    HourCount,
    WorkflowCount,
    duration_figures,
    hourly_activity,
    most_executed,
    top_failing,
    window_figures,
    workflows_created,
)

HOURS = 24
DAYS = 30
LIMIT = 10


@dataclass(frozen=True)
class Statistics:
    """What ``wfconsole stats`` reports."""

    taken_at: datetime
    hours: int
    days: int
    messages: QueueMessages | None
    queue_error: str | None
    active: ActiveExecutions
    summary: PeriodSummary
    """The last ``hours``: counts by outcome, success rate, mean duration."""
    durations: DurationFigures
    """The last ``hours``: mean and p95 of SUCCESS and FAILED runs."""
    per_hour: list[HourCount]
    daily: list[DayStats]
    top_failing: list[WorkflowCount]
    most_executed: list[WorkflowCount]
    failure_reasons: list[FailureReason]
    workflows_created: list[CreatedDay]


def collect_statistics(
    db: Database,
    queue: QueueCounter | None,
    *,
    now: datetime,
    hours: int = HOURS,
    days: int = DAYS,
    limit: int = LIMIT,
) -> Statistics:
    """Every figure at ``now``; the queue being down is a figure, the database a failure."""
    now = utc(now)
    messages: QueueMessages | None = None
    queue_error: str | None = None
    if queue is not None:
        try:
            messages = queue_messages(queue)
        except Exception as exc:  # reported in the document, not raised
            queue_error = first_line(exc)
    # The two reads of the whole window (failure reasons: the FAILED rows' messages, in no
    # index; daily and per-workflow figures: one index-only pass) run on connections of
    # their own while the small last-24-hours reads run here.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="stats") as pool:
        reasons = pool.submit(failure_reasons, db, now=now, days=days, limit=limit)
        window = pool.submit(window_figures, db, now=now, days=days)
        active = active_executions(db, now=now)
        summary = period_summary(db, now=now, hours=hours)
        durations = duration_figures(db, now=now, hours=hours)
        per_hour = hourly_activity(db, now=now, hours=hours)
        created = workflows_created(db, now=now, days=days)
        daily, counts = window.result()
        failures = reasons.result()
    return Statistics(
        taken_at=now,
        hours=hours,
        days=days,
        messages=messages,
        queue_error=queue_error,
        active=active,
        summary=summary,
        durations=durations,
        per_hour=per_hour,
        daily=daily,
        top_failing=top_failing(counts, limit),
        most_executed=most_executed(counts, limit),
        failure_reasons=failures,
        workflows_created=created,
    )


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def statistics_document(stats: Statistics) -> dict[str, Any]:
    """The ``stats --json`` document; its keys are part of the contract (see README)."""
    summary, messages = stats.summary, stats.messages
    return {
        "taken_at": stats.taken_at.isoformat(),
        "hours": stats.hours,
        "days": stats.days,
        "queue": {
            "queued": None if messages is None else messages.queued,
            "scheduled": None if messages is None else messages.scheduled,
            "running": stats.active.running,
            "pending": stats.active.pending,
            "error": stats.queue_error,
        },
        "summary": {
            "finished": summary.finished,
            "succeeded": summary.succeeded,
            "failed": summary.failed,
            "cancelled": summary.cancelled,
            "skipped": summary.skipped,
            "success_rate": _rounded(summary.success_rate, 4),
            "avg_duration_ms": _rounded(stats.durations.avg_ms),
            "p95_duration_ms": _rounded(stats.durations.p95_ms),
        },
        "executions_per_hour": [
            {"hour": h.hour.isoformat(), "finished": h.finished, "failed": h.failed}
            for h in stats.per_hour
        ],
        "daily": [
            {
                "date": d.day.isoformat(),
                "finished": d.finished,
                "succeeded": d.succeeded,
                "failed": d.failed,
                "success_rate": _rounded(d.success_rate, 4),
                "avg_duration_ms": _rounded(d.avg_duration_ms),
            }
            for d in stats.daily
        ],
        "top_failing_workflows": [
            {"workflow": w.workflow, "failures": w.failures, "executions": w.executions}
            for w in stats.top_failing
        ],
        "most_executed_workflows": [
            {"workflow": w.workflow, "executions": w.executions, "failures": w.failures}
            for w in stats.most_executed
        ],
        "failure_reasons": [
            {
                "signature": r.signature,
                "failures": r.failures,
                "transient": r.transient,
                "example": r.example,
            }
            for r in stats.failure_reasons
        ],
        "workflows_created": [
            {"date": c.day.isoformat(), "workflows": c.workflows} for c in stats.workflows_created
        ],
    }
