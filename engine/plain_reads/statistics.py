"""``wfconsole stats``: every statistic in one call, and its stable JSON document.

The command's plain read (the driver alone) and ``engine.services.stats_report`` (a
SQLAlchemy engine's connections) both call ``collect_statistics``; the queries are those
of ``recent_figures``, ``window_figures`` and ``failure_reasons``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from engine.plain_reads.failure_reasons import ErrorSignatures, FailureReason, failure_reasons
from engine.plain_reads.figure_sql import aware_utc
from engine.plain_reads.health import first_line
from engine.plain_reads.reader import Reader
from engine.plain_reads.recent_figures import (
    ActiveExecutions,
    DurationFigures,
    HourCount,
    PeriodSummary,
    active_executions,
    duration_figures,
    hourly_activity,
    period_summary,
)
from engine.plain_reads.window_figures import (
    CreatedDay,
    DayStats,
    WorkflowCount,
    most_executed,
    top_failing,
    window_rows,
    window_totals,
    workflows_created,
)

HOURS = 24
DAYS = 30
LIMIT = 10
WINDOW_PARTS = 2
"""The window's daily and per-workflow read on PostgreSQL, in parts read in parallel: one
per core of a small server (the read is CPU-bound; the failure reasons are an index range
beside it)."""
OpenReader = Callable[[], AbstractContextManager[Reader]]
"""Opens another reader on the same database (a connection of its own, for a thread)."""
_Result = TypeVar("_Result")


class QueueCounter(Protocol):
    """What the figures need from a queue: a Huey instance has both."""

    def pending_count(self) -> int:
        """Messages waiting to be picked up."""
        ...

    def scheduled_count(self) -> int:
        """Messages scheduled for later (delayed dispatches and retries)."""
        ...


@dataclass(frozen=True)
class QueueMessages:
    """Messages in the queue (Redis or the SQLite queue file)."""

    queued: int
    scheduled: int


def queue_messages(queue: QueueCounter) -> QueueMessages:
    """Messages waiting in the queue now and scheduled for later; raises when unreachable."""
    return QueueMessages(queued=queue.pending_count(), scheduled=queue.scheduled_count())


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


def _on_own_reader(
    open_reader: OpenReader, read: Callable[..., _Result], **arguments: Any
) -> _Result:
    with open_reader() as reader:
        return read(reader, **arguments)


def collect_statistics(
    reader: Reader,
    open_reader: OpenReader,
    queue: QueueCounter | None,
    signatures: ErrorSignatures,
    *,
    now: datetime,
    hours: int = HOURS,
    days: int = DAYS,
    limit: int = LIMIT,
) -> Statistics:
    """Every figure at ``now``; the queue being down is a figure, the database a failure.

    The reads of the whole window (failure reasons: the FAILED rows' messages; daily and
    per-workflow figures: one index-only pass, in ``WINDOW_PARTS`` parts on PostgreSQL)
    run on readers of their own (``open_reader``, in threads) while the small last-hours
    reads run on ``reader``.
    """
    now = aware_utc(now)
    messages: QueueMessages | None = None
    queue_error: str | None = None
    if queue is not None:
        try:
            messages = queue_messages(queue)
        except Exception as exc:  # reported in the document, not raised
            queue_error = first_line(exc)
    parts = WINDOW_PARTS if reader.dialect == "postgresql" else 1
    with ThreadPoolExecutor(max_workers=1 + parts, thread_name_prefix="stats") as pool:
        window = [
            pool.submit(_on_own_reader, open_reader, window_rows,
                        now=now, days=days, part=part, parts=parts)
            for part in range(parts)
        ]  # fmt: skip
        reasons = pool.submit(
            _on_own_reader, open_reader, failure_reasons,
            signatures=signatures, now=now, days=days, limit=limit,
        )  # fmt: skip
        active = active_executions(reader, now=now)
        summary = period_summary(reader, now=now, hours=hours)
        durations = duration_figures(reader, now=now, hours=hours)
        per_hour = hourly_activity(reader, now=now, hours=hours)
        created = workflows_created(reader, now=now, days=days)
        rows = [row for part in window for row in part.result()]
        daily, counts = window_totals(rows, now=now, days=days)
        failures = reasons.result()
    return Statistics(
        taken_at=now, hours=hours, days=days, messages=messages, queue_error=queue_error,
        active=active, summary=summary, durations=durations, per_hour=per_hour, daily=daily,
        top_failing=top_failing(counts, limit), most_executed=most_executed(counts, limit),
        failure_reasons=failures, workflows_created=created,
    )  # fmt: skip


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
