"""The figures of ``wfconsole stats`` and of ``GET /metrics``, beside the dashboard's.

The queries are ``engine.plain_reads.recent_figures`` (executions per hour, mean and p95
duration: ranges of ``idx_execution_completed``) and ``engine.plain_reads.window_figures``
(daily and per-workflow figures in one index-only read, workflows created): one
implementation, which the command's plain read runs too. Here they run on a connection
of ``db.read_engine``. The failure reasons are ``engine.services.failure_reasons``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from engine.core_tables import EXECUTION, FAILED, SUCCESS, WORKFLOW
from engine.db import Database
from engine.plain_reads import recent_figures
from engine.plain_reads import window_figures as window_reads
from engine.plain_reads.figure_sql import window_bounds as window_bounds
from engine.plain_reads.reader import Reader
from engine.plain_reads.recent_figures import P95 as P95
from engine.plain_reads.recent_figures import DurationFigures as DurationFigures
from engine.plain_reads.recent_figures import HourCount as HourCount
from engine.plain_reads.recent_figures import percentile as percentile
from engine.plain_reads.window_figures import CreatedDay as CreatedDay
from engine.plain_reads.window_figures import DayStats as DayStats
from engine.plain_reads.window_figures import WorkflowCount as WorkflowCount
from engine.plain_reads.window_figures import most_executed as most_executed
from engine.plain_reads.window_figures import top_failing as top_failing

E = EXECUTION.c
W = WORKFLOW.c
DECIDED = (SUCCESS, FAILED)


def hourly_activity(db: Database, *, now: datetime, hours: int = 24) -> list[HourCount]:
    """Finished and failed executions per clock hour, the current hour last (``hours`` rows)."""
    with Reader.of_engine(db.read_engine) as reader:
        return recent_figures.hourly_activity(reader, now=now, hours=hours)


def duration_figures(db: Database, *, now: datetime, hours: float = 24) -> DurationFigures:
    """Mean and p95 duration of the SUCCESS and FAILED runs finished in the last ``hours``."""
    with Reader.of_engine(db.read_engine) as reader:
        return recent_figures.duration_figures(reader, now=now, hours=hours)


def daily_statistics(db: Database, *, now: datetime, days: int = 30) -> list[DayStats]:
    """Every UTC day of the last ``days`` (today last), zero days included."""
    return window_figures(db, now=now, days=days)[0]


def workflow_counts(db: Database, *, now: datetime, days: int = 30) -> list[WorkflowCount]:
    """Per workflow, executions finished and failed in the last ``days`` (unordered)."""
    return window_figures(db, now=now, days=days)[1]


def window_figures(
    db: Database, *, now: datetime, days: int = 30
) -> tuple[list[DayStats], list[WorkflowCount]]:
    """``daily_statistics`` and ``workflow_counts`` from one read of the window."""
    with Reader.of_engine(db.read_engine) as reader:
        return window_reads.window_figures(reader, now=now, days=days)


def workflows_created(db: Database, *, now: datetime, days: int = 30) -> list[CreatedDay]:
    """Workflows created on each UTC day of the last ``days`` (today last)."""
    with Reader.of_engine(db.read_engine) as reader:
        return window_reads.workflows_created(reader, now=now, days=days)


@dataclass(frozen=True)
class WorkflowTotals:
    """Lifetime figures from the workflow counters (a small table: cheap to read often)."""

    workflows: int
    enabled: int
    finished: int
    succeeded: int
    failed: int


def workflow_totals(db: Database) -> WorkflowTotals:
    """Sums of every workflow's counters; deleting a workflow takes its share with it."""
    query = sa.select(
        sa.func.count(),
        sa.func.count().filter(W.enabled.is_(True)),
        sa.func.coalesce(sa.func.sum(W.execution_count), 0),
        sa.func.coalesce(sa.func.sum(W.success_count), 0),
        sa.func.coalesce(sa.func.sum(W.failure_count), 0),
    )
    with db.read_engine.connect() as conn:
        row = conn.execute(query).one()
    return WorkflowTotals(*(int(value) for value in row))
