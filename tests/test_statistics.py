"""``wfconsole stats``: every figure exact on known rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from engine.db import Database, session_scope
from engine.execution.error_signature import normalise_error
from engine.models import Workflow, WorkflowExecution, table_of
from engine.services.failure_reasons import failure_reasons
from engine.services.statistics import (
    WorkflowCount,
    daily_statistics,
    duration_figures,
    hourly_activity,
    percentile,
    workflow_totals,
)
from engine.services.stats_report import collect_statistics, statistics_document
from engine.services.workflows import save_document
from tests.cli.runner import Cli, runner, write_config

NOW = datetime(2024, 5, 10, 12, 30, tzinfo=UTC)
HTTP_503 = "step 1 (webhook): HTTP 503 from https://x.example/hook?id={} after 3 attempt(s)"
TEMPLATE = "template path trigger.x missing"


def _workflow(db: Database, name: str, created: datetime) -> str:
    save_document(
        db, {"name": name, "triggers": [{"type": "manual"}],
             "actions": [{"type": "create_task", "title": "t"}]}, actor="tester",
    )  # fmt: skip
    with session_scope(db) as session:
        workflow = session.exec(select(Workflow).where(Workflow.name == name)).one()
        workflow.created_at = created
        return str(workflow.id)


def _run(
    db: Database,
    workflow_id: str,
    status: str,
    ago: timedelta,
    duration: float | None = None,
    error: str | None = None,
) -> None:
    completed = None if status in ("RUNNING", "PENDING") else NOW - ago
    with session_scope(db) as session:
        session.add(
            WorkflowExecution(
                workflow_id=workflow_id, status=status, trigger_type="manual",
                created_at=NOW - ago, started_at=NOW - ago, completed_at=completed,
                duration_ms=duration, error=error, available_at=NOW - ago,
            )
        )  # fmt: skip


@pytest.fixture
def known(any_db: Database) -> Database:
    """Two workflows with runs at known times, a third one whose only run is 40 days old."""
    minutes, hours, days = (lambda n: timedelta(minutes=n)), (lambda n: timedelta(hours=n)), (
        lambda n: timedelta(days=n))  # fmt: skip
    alpha = _workflow(any_db, "alpha", NOW - days(1))
    beta = _workflow(any_db, "beta", NOW - days(1))
    gamma = _workflow(any_db, "gamma", NOW - days(60))
    _run(any_db, alpha, "SUCCESS", minutes(10), 100.0)
    _run(any_db, alpha, "SUCCESS", minutes(20), 200.0)
    _run(any_db, alpha, "FAILED", minutes(70), 300.0, HTTP_503.format(7))
    _run(any_db, alpha, "FAILED", days(2), 400.0, HTTP_503.format(9))
    _run(any_db, alpha, "CANCELLED", hours(3))
    _run(any_db, beta, "SUCCESS", minutes(5), 1000.0)
    _run(any_db, beta, "FAILED", hours(26), 50.0, TEMPLATE)
    _run(any_db, beta, "SKIPPED", hours(1), 5.0)
    _run(any_db, beta, "RUNNING", minutes(1))
    _run(any_db, beta, "PENDING", minutes(1))
    _run(any_db, gamma, "SUCCESS", days(40), 10.0)
    return any_db


def test_percentile_interpolates_like_percentile_cont() -> None:
    assert percentile([100.0, 200.0, 300.0, 1000.0], 0.95) == pytest.approx(895.0)
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.95) is None


def test_last_day_rates_and_durations(known: Database) -> None:
    stats = collect_statistics(known, None, now=NOW)
    summary = stats.summary
    assert (summary.succeeded, summary.failed, summary.cancelled, summary.skipped) == (3, 1, 1, 1)
    assert summary.success_rate == 0.75
    assert stats.durations.runs == 4
    assert stats.durations.avg_ms == pytest.approx(400.0)
    assert stats.durations.p95_ms == pytest.approx(895.0)
    assert (stats.active.running, stats.active.pending) == (1, 1)


def test_last_hour_durations_only_count_that_hour(known: Database) -> None:
    figures = duration_figures(known, now=NOW, hours=1)
    assert (figures.runs, figures.avg_ms) == (3, pytest.approx(1300.0 / 3))
    assert figures.p95_ms == pytest.approx(200.0 + 0.9 * 800.0)


def test_executions_per_hour(known: Database) -> None:
    hours = hourly_activity(known, now=NOW)
    assert len(hours) == 24
    assert hours[-1].hour == datetime(2024, 5, 10, 12, tzinfo=UTC)
    by_hour = {h.hour.hour: (h.finished, h.failed) for h in hours if h.finished}
    assert by_hour == {12: (3, 0), 11: (2, 1), 9: (1, 0)}


def test_daily_statistics_cover_thirty_days(known: Database) -> None:
    days = daily_statistics(known, now=NOW)
    assert len(days) == 30
    assert (days[0].day, days[-1].day) == (date(2024, 4, 11), date(2024, 5, 10))
    busy = {d.day.day: (d.finished, d.succeeded, d.failed, d.avg_duration_ms) for d in days
            if d.finished}  # fmt: skip
    assert busy == {10: (6, 3, 1, 400.0), 9: (1, 0, 1, 50.0), 8: (1, 0, 1, 400.0)}
    assert days[-1].success_rate == 0.75


def test_top_failing_most_executed_and_reasons(known: Database) -> None:
    stats = collect_statistics(known, None, now=NOW)
    assert stats.top_failing == [WorkflowCount("alpha", 5, 2), WorkflowCount("beta", 3, 1)]
    assert stats.most_executed == [WorkflowCount("alpha", 5, 2), WorkflowCount("beta", 3, 1)]
    reasons = failure_reasons(known, now=NOW)
    assert [(r.signature, r.failures, r.transient) for r in reasons] == [
        (normalise_error(HTTP_503.format(7)), 2, True),
        (TEMPLATE, 1, False),
    ]
    assert reasons[0].example in (HTTP_503.format(7), HTTP_503.format(9))


def test_workflows_created_per_day(known: Database) -> None:
    created = {c.day: c.workflows for c in collect_statistics(known, None, now=NOW)
               .workflows_created if c.workflows}  # fmt: skip
    assert created == {date(2024, 5, 9): 2}


def test_workflow_totals_sum_the_counters(known: Database) -> None:
    table = table_of(Workflow)
    with known.engine.begin() as conn:
        conn.execute(sa.update(table).values(execution_count=4, success_count=3, failure_count=1))
        conn.execute(sa.update(table).where(table.c.name == "gamma").values(enabled=False))
    totals = workflow_totals(known)
    assert (totals.workflows, totals.enabled) == (3, 2)
    assert (totals.finished, totals.succeeded, totals.failed) == (12, 9, 3)


def test_document_keys_are_stable(known: Database) -> None:
    document = statistics_document(collect_statistics(known, None, now=NOW))
    assert list(document) == [
        "taken_at", "hours", "days", "queue", "summary", "executions_per_hour", "daily",
        "top_failing_workflows", "most_executed_workflows", "failure_reasons",
        "workflows_created",
    ]  # fmt: skip
    assert document["summary"] == {
        "finished": 6, "succeeded": 3, "failed": 1, "cancelled": 1, "skipped": 1,
        "success_rate": 0.75, "avg_duration_ms": 400.0, "p95_duration_ms": 895.0,
    }  # fmt: skip
    assert document["queue"] == {
        "queued": None,
        "scheduled": None,
        "running": 1,
        "pending": 1,
        "error": None,
    }
    assert document["daily"][-1] == {
        "date": "2024-05-10", "finished": 6, "succeeded": 3, "failed": 1,
        "success_rate": 0.75, "avg_duration_ms": 400.0,
    }  # fmt: skip
    assert document["failure_reasons"][1] == {
        "signature": TEMPLATE,
        "failures": 1,
        "transient": False,
        "example": TEMPLATE,
    }


@pytest.fixture
def cli(any_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``wfconsole ARGS --config <the test database>`` in-process."""
    return runner(capsys, write_config(tmp_path / "test-config.toml", any_db.url))


def test_cli_stats_json_prints_the_document(cli: Cli, any_db: Database) -> None:
    _workflow(any_db, "alpha", datetime.now(UTC))
    result = cli("stats", "--json", "--days", "7")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["days"] == 7 and len(document["daily"]) == 7
    assert len(document["executions_per_hour"]) == 24
    assert document["queue"]["queued"] == 0 and document["queue"]["error"] is None
    assert document["workflows_created"][-1]["workflows"] == 1


def test_cli_stats_prints_a_report(cli: Cli) -> None:
    result = cli("stats")
    assert result.code == 0, result.err
    assert "success rate -" in result.out
    assert "failure reasons (30 d)" in result.out


def test_cli_stats_refuses_a_bad_day_count(cli: Cli) -> None:
    result = cli("stats", "--days", "0")
    assert result.code == 2
    assert "must be between 1 and 366" in result.err
