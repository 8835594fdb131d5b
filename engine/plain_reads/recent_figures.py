"""The figures of the last hours: active runs, outcomes, runs per hour, durations.

Windows are by completion time, read through ``idx_execution_completed`` (completed_at,
status, duration_ms; index-only on PostgreSQL); running and pending through the partial
``idx_execution_active``. The p95 is ``percentile_cont`` on PostgreSQL and the same
linear interpolation in Python over the index's duration column on SQLite.
``wfconsole stats``, ``GET /metrics``, the alerts and the console's dashboard all read
these (through ``engine.services.metrics`` and ``engine.services.statistics``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.plain_reads.figure_sql import aware_utc, tuned_rows, window_bounds
from engine.plain_reads.reader import Reader, stored_time
from engine.statuses import ExecutionStatus

P95 = 0.95
SUCCESS, FAILED = ExecutionStatus.SUCCESS.value, ExecutionStatus.FAILED.value
CANCELLED, SKIPPED = ExecutionStatus.CANCELLED.value, ExecutionStatus.SKIPPED.value


@dataclass(frozen=True)
class ActiveExecutions:
    """Unfinished executions in the database."""

    running: int
    pending: int
    """Every PENDING row, including those waiting for a retry."""
    pending_later: int
    """PENDING rows not due yet (retry back-off)."""


@dataclass(frozen=True)
class PeriodSummary:
    """Executions that finished since ``since``, by outcome."""

    since: datetime
    succeeded: int
    failed: int
    cancelled: int
    skipped: int
    avg_duration_ms: float | None
    """Mean duration of SUCCESS and FAILED runs (as the workflow counters average)."""

    @property
    def finished(self) -> int:
        """Runs that reached any final state."""
        return self.succeeded + self.failed + self.cancelled + self.skipped

    @property
    def success_rate(self) -> float | None:
        """SUCCESS / (SUCCESS + FAILED), as for workflows; None when neither happened."""
        decided = self.succeeded + self.failed
        return self.succeeded / decided if decided else None


@dataclass(frozen=True)
class HourCount:
    """Executions finished (any final state) and failed in one clock hour (UTC)."""

    hour: datetime
    finished: int
    failed: int


@dataclass(frozen=True)
class DurationFigures:
    """Durations of the SUCCESS and FAILED runs finished in a window."""

    runs: int
    avg_ms: float | None
    p95_ms: float | None


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """``percentile_cont``: linear interpolation between the closest ranks of sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# Literal statuses: SQLite uses a partial index only for a WHERE it can match against the
# index's own (``status IN ('PENDING', 'RUNNING')``).
_ACTIVE = (
    "SELECT status, count(*), count(*) FILTER (WHERE available_at > :now)"
    " FROM workflow_execution WHERE status IN ('PENDING', 'RUNNING') GROUP BY status"
)


def active_executions(reader: Reader, *, now: datetime) -> ActiveExecutions:
    """RUNNING and PENDING executions (``idx_execution_active``)."""
    now = aware_utc(now)
    found = reader.rows(_ACTIVE, {"now": stored_time(now, reader.dialect)})
    rows = {status: (int(total), int(later)) for status, total, later in found}
    pending, later = rows.get("PENDING", (0, 0))
    return ActiveExecutions(running=rows.get("RUNNING", (0, 0))[0], pending=pending,
                            pending_later=later)  # fmt: skip


_OUTCOMES = (
    "SELECT status, count(*), sum(duration_ms), count(duration_ms) FROM workflow_execution"
    " WHERE completed_at >= :since AND completed_at <= :now GROUP BY status"
)


def period_summary(reader: Reader, *, now: datetime, hours: float = 24) -> PeriodSummary:
    """Runs finished in the last ``hours``: counts by outcome and mean duration."""
    since, now = window_bounds(now, hours)
    params = {"since": stored_time(since, reader.dialect), "now": stored_time(now, reader.dialect)}
    rows = {row[0]: (row[1], row[2] or 0.0, row[3]) for row in reader.rows(_OUTCOMES, params)}

    def count(which: str) -> int:
        return int(rows.get(which, (0, 0.0, 0))[0])

    timed = [rows[s] for s in (SUCCESS, FAILED) if s in rows]
    timed_runs = sum(runs for _, _, runs in timed)
    avg = sum(total for _, total, _ in timed) / timed_runs if timed_runs else None
    return PeriodSummary(
        since=since,
        succeeded=count(SUCCESS),
        failed=count(FAILED),
        cancelled=count(CANCELLED),
        skipped=count(SKIPPED),
        avg_duration_ms=float(avg) if avg is not None else None,
    )


# PostgreSQL: one range of idx_execution_completed per hour, not an epoch computed per row.
_HOURS_PG = """
    SELECT b.segment, g.total, g.failed
    FROM unnest(CAST(:bounds AS timestamptz[]), CAST(:ends AS timestamptz[]))
        WITH ORDINALITY AS b (low, high, segment)
    CROSS JOIN LATERAL (
        SELECT count(*) AS total, count(*) FILTER (WHERE e.status = :failed) AS failed
        FROM workflow_execution AS e
        WHERE e.completed_at >= b.low AND e.completed_at < b.high
    ) AS g
"""
# SQLite: one pass over the index, grouped by the hour number of the stored text.
_HOURS_SQLITE = """
    SELECT CAST(strftime('%s', completed_at) AS INTEGER) / 3600 AS hour, count(*),
           count(*) FILTER (WHERE status = :failed)
    FROM workflow_execution WHERE completed_at >= :start AND completed_at <= :now
    GROUP BY hour
"""


def hourly_activity(reader: Reader, *, now: datetime, hours: int = 24) -> list[HourCount]:
    """Finished and failed executions per clock hour, the current hour last (``hours`` rows)."""
    now = aware_utc(now)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    starts = [start + timedelta(hours=i) for i in range(hours)]
    finished, failed = [0] * hours, [0] * hours
    if reader.dialect == "postgresql":
        ends = [*starts[1:], now + timedelta(microseconds=1)]
        arrays = {"bounds": starts, "ends": ends, "failed": FAILED}
        for segment, total, failures in tuned_rows(reader, _HOURS_PG, arrays):
            finished[segment - 1], failed[segment - 1] = int(total), int(failures)
    else:
        first = int(start.timestamp()) // 3600
        parameters = {"start": stored_time(start, "sqlite"), "now": stored_time(now, "sqlite"),
                      "failed": FAILED}  # fmt: skip
        for number, total, failures in reader.rows(_HOURS_SQLITE, parameters):
            index = int(number) - first
            if 0 <= index < hours:
                finished[index] += int(total)
                failed[index] += int(failures)
    return [HourCount(starts[i], finished[i], failed[i]) for i in range(hours)]


# Index-only through idx_execution_completed (completed_at, status, duration_ms) on both.
# SQLite would rather take idx_execution_status_created for the status test (then look up
# every SUCCESS and FAILED row of all time); its "+status" is no index term.
_TIMED = (
    " FROM workflow_execution WHERE completed_at >= :since AND completed_at <= :until"
    " AND {status} IN (:success, :failed) AND duration_ms IS NOT NULL"
)


def duration_figures(reader: Reader, *, now: datetime, hours: float = 24) -> DurationFigures:
    """Mean and p95 duration of the SUCCESS and FAILED runs finished in the last ``hours``."""
    since, until = window_bounds(now, hours)
    params = {
        "since": stored_time(since, reader.dialect),
        "until": stored_time(until, reader.dialect),
        "success": SUCCESS,
        "failed": FAILED,
    }
    if reader.dialect == "sqlite":
        timed = "SELECT duration_ms" + _TIMED.format(status="+status")
        values = [float(value) for (value,) in reader.rows(timed, params)]
        avg = sum(values) / len(values) if values else None
        return DurationFigures(len(values), avg, percentile(values, P95))
    p95_sql = f"percentile_cont({P95}) WITHIN GROUP (ORDER BY duration_ms)"
    figures = f"SELECT count(*), avg(duration_ms), {p95_sql}" + _TIMED.format(status="status")
    runs, avg, p95 = reader.rows(figures, params)[0]
    return DurationFigures(
        int(runs), None if avg is None else float(avg), None if p95 is None else float(p95)
    )
