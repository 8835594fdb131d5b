"""Operational figures on known rows, on SQLite and PostgreSQL: exact counts, fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlmodel import select

from engine.db import Database, create_db_engine, session_scope
from engine.models import Workflow, WorkflowExecution
from engine.services.dashboard import DAY_REFRESH, collect_dashboard
from engine.services.health import check_health
from engine.services.metrics import (
    FailingWorkflow,
    active_executions,
    latest_failures,
    minute_activity,
    period_summary,
    top_failing_workflows,
)
from engine.services.workflows import save_document

NOW = datetime(2024, 5, 1, 12, 30, 20, tzinfo=UTC)
_numbers = count(1)


class CountingQueue:
    """A queue that answers fixed counts (a real Huey is used in the console tests)."""

    def __init__(self, queued: int = 0, scheduled: int = 0, *, down: bool = False) -> None:
        self.queued, self.scheduled, self.down = queued, scheduled, down

    def pending_count(self) -> int:
        if self.down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")
        return self.queued

    def scheduled_count(self) -> int:
        return self.scheduled


def workflow(db: Database, name: str) -> str:
    save_document(db, {"name": name, "triggers": [{"type": "manual"}], "actions": [
        {"type": "create_task", "title": "t"}]}, actor="tester")  # fmt: skip
    with db.session() as session:
        return session.exec(select(Workflow.id).where(Workflow.name == name)).one()


def add(db: Database, workflow_id: str, status: str, *, completed: datetime | None = None,
        created: datetime | None = None, duration_ms: float | None = None,
        available: datetime | None = None, error: str | None = None) -> str:  # fmt: skip
    number = next(_numbers)
    execution_id = f"00000000-0000-7000-8000-{number:012d}"
    created = created or (completed or NOW) - timedelta(seconds=1)
    with session_scope(db) as session:
        session.add(
            WorkflowExecution(
                id=execution_id, workflow_id=workflow_id, status=status, trigger_type="manual",
                created_at=created, completed_at=completed, duration_ms=duration_ms,
                available_at=available or created, error=error,
            )
        )  # fmt: skip
    return execution_id


@pytest.fixture
def seeded(any_db: Database) -> Database:
    """Two workflows and a known spread of executions around NOW."""
    a, b = workflow(any_db, "alpha"), workflow(any_db, "beta")
    add(any_db, a, "SUCCESS", completed=NOW - timedelta(seconds=10), duration_ms=100)  # 12:30:10
    add(any_db, a, "SUCCESS", completed=NOW - timedelta(seconds=70), duration_ms=300)  # 12:29:10
    add(any_db, a, "FAILED", completed=datetime(2024, 5, 1, 12, 29, 30, tzinfo=UTC),
        duration_ms=200, error="a broke")  # fmt: skip
    add(any_db, b, "FAILED", completed=datetime(2024, 5, 1, 11, 40, tzinfo=UTC),
        duration_ms=400, error="b broke")  # fmt: skip
    add(any_db, b, "FAILED", completed=NOW - timedelta(hours=2), duration_ms=1000, error="b again")
    add(any_db, b, "SKIPPED", completed=NOW - timedelta(hours=3), duration_ms=5)
    add(any_db, a, "CANCELLED", completed=NOW - timedelta(hours=5))
    add(any_db, a, "SUCCESS", completed=NOW - timedelta(hours=25), duration_ms=9999)  # too old
    add(any_db, a, "SUCCESS", completed=NOW + timedelta(seconds=5), duration_ms=9999)  # future
    add(any_db, a, "RUNNING", created=NOW - timedelta(minutes=1))
    add(any_db, a, "PENDING", created=NOW - timedelta(minutes=2))
    add(any_db, b, "PENDING", created=NOW - timedelta(minutes=3),
        available=NOW + timedelta(seconds=60))  # fmt: skip
    return any_db


def test_active_executions_count_running_pending_and_pending_not_yet_due(seeded: Database) -> None:
    active = active_executions(seeded, now=NOW)
    assert (active.running, active.pending, active.pending_later) == (1, 2, 1)


def test_minute_activity_counts_each_minute_of_the_last_hour(seeded: Database) -> None:
    hour = minute_activity(seeded, now=NOW)
    assert hour.start == datetime(2024, 5, 1, 11, 31, tzinfo=UTC)
    assert len(hour.finished) == len(hour.failed) == 60
    nonzero = {i: (hour.finished[i], hour.failed[i]) for i in range(60) if hour.finished[i]}
    # 11:40 is minute 9; 12:29 is minute 58 (a success and a failure); 12:30 is minute 59.
    assert nonzero == {9: (1, 1), 58: (2, 1), 59: (1, 0)}
    assert (hour.total_finished, hour.total_failed) == (4, 2)


def test_minute_activity_with_a_previous_result_equals_a_fresh_count(seeded: Database) -> None:
    first = minute_activity(seeded, now=NOW)
    a = workflow(seeded, "gamma")
    add(seeded, a, "FAILED", completed=NOW + timedelta(seconds=20), duration_ms=1)  # 12:30:40
    add(seeded, a, "SUCCESS", completed=NOW + timedelta(seconds=50), duration_ms=1)  # 12:31:10
    for later in (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=70)):
        incremental = minute_activity(seeded, now=NOW + later, previous=first)
        assert incremental == minute_activity(seeded, now=NOW + later), later


def test_period_summary_counts_the_last_day_by_outcome(seeded: Database) -> None:
    day = period_summary(seeded, now=NOW)
    assert (day.succeeded, day.failed, day.cancelled, day.skipped) == (2, 3, 1, 1)
    assert day.finished == 7
    assert day.success_rate == pytest.approx(2 / 5)
    assert day.avg_duration_ms == pytest.approx((100 + 300 + 200 + 400 + 1000) / 5)


def test_period_summary_of_an_empty_window_has_no_rate(seeded: Database) -> None:
    day = period_summary(seeded, now=NOW - timedelta(days=30))
    assert (day.finished, day.success_rate, day.avg_duration_ms) == (0, None, None)


def test_top_failing_workflows_are_ordered_by_failures(seeded: Database) -> None:
    assert top_failing_workflows(seeded, now=NOW) == [
        FailingWorkflow("beta", 2, datetime(2024, 5, 1, 11, 40, tzinfo=UTC)),
        FailingWorkflow("alpha", 1, datetime(2024, 5, 1, 12, 29, 30, tzinfo=UTC)),
    ]
    assert [w.workflow for w in top_failing_workflows(seeded, now=NOW, limit=1)] == ["beta"]


def test_latest_failures_are_newest_first(seeded: Database) -> None:
    assert [row.error for row in latest_failures(seeded, limit=2)] == ["a broke", "b broke"]


def test_a_naive_clock_is_refused(seeded: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        period_summary(seeded, now=NOW.replace(tzinfo=None))


def test_dashboard_gathers_every_figure(seeded: Database) -> None:
    metrics = collect_dashboard(seeded, CountingQueue(7, 3), now=NOW, heartbeat_interval=5)
    assert metrics.messages is not None
    assert (metrics.messages.queued, metrics.messages.scheduled) == (7, 3)
    assert metrics.active.running == 1
    assert metrics.last_hour.total_finished == 4
    assert metrics.last_day.failed == 3
    assert [w.workflow for w in metrics.top_failing] == ["beta", "alpha"]
    assert len(metrics.latest_failures) == 3
    assert metrics.health.ok


def test_dashboard_reports_a_queue_that_is_down_without_failing(seeded: Database) -> None:
    metrics = collect_dashboard(seeded, CountingQueue(down=True), now=NOW, heartbeat_interval=5)
    assert metrics.messages is None
    assert metrics.queue_error is not None and "Connection refused" in metrics.queue_error
    assert metrics.health.database.ok and not metrics.health.queue.ok
    assert metrics.active.pending == 2


def test_dashboard_reuses_the_day_figures_until_they_are_due(seeded: Database) -> None:
    first = collect_dashboard(seeded, CountingQueue(), now=NOW, heartbeat_interval=5)
    add(seeded, workflow(seeded, "delta"), "FAILED", completed=NOW, duration_ms=1)
    soon = collect_dashboard(seeded, CountingQueue(), now=NOW + timedelta(seconds=2),
                             heartbeat_interval=5, previous=first)  # fmt: skip
    assert soon.last_day == first.last_day  # read again only every DAY_REFRESH
    assert soon.latest_failures[0].workflow == "delta"  # the rest is read every time
    later = collect_dashboard(seeded, CountingQueue(), now=NOW + DAY_REFRESH,
                              heartbeat_interval=5, previous=soon)  # fmt: skip
    assert later.last_day.failed == first.last_day.failed + 1
    assert later.top_failing[0] == FailingWorkflow("beta", 2, datetime(2024, 5, 1, 11, 40,
                                                                      tzinfo=UTC))  # fmt: skip


def test_health_reports_each_component(seeded: Database) -> None:
    assert check_health(seeded, CountingQueue()).ok
    report = check_health(seeded, CountingQueue(down=True))
    assert report.database.ok and not report.queue.ok
    assert "Connection refused" in report.queue.detail


def test_health_reports_an_unreachable_database() -> None:
    unreachable = create_db_engine("postgresql://nobody@127.0.0.1:1/none")
    broken = Database(url=str(unreachable.url), engine=unreachable, read_engine=unreachable)
    report = check_health(broken, CountingQueue())
    assert not report.database.ok and report.queue.ok
    assert report.database.detail
