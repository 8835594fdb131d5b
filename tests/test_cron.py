"""The cron tick on SQLite and PostgreSQL: due fire times, once each, by misfire policy."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from engine.config import Settings
from engine.db import Database, session_scope
from engine.models import AuditLog, WorkflowExecution, WorkflowTrigger, table_of
from engine.services.workflow_admin import set_enabled
from engine.services.workflows import save_document
from engine.triggers.cron import cron_tick
from engine.workers.housekeeping import cleanup_due
from engine.workers.runtime import EmbeddedWorker, Queue
from tests.conftest import settings_for_url

NOW = datetime(2025, 3, 10, 12, 0, 30, tzinfo=UTC)


class RecordingQueue:
    def __init__(self) -> None:
        self.dispatched: list[str] = []

    def dispatch(self, execution_id: str, delay: float | None = None) -> None:
        self.dispatched.append(execution_id)


def _save(db: Database, cron: str = "* * * * *", timezone: str = "UTC", **extra: Any) -> None:
    document = {
        "name": "ticker",
        "enabled": True,
        "triggers": [{"type": "schedule", "cron": cron, "timezone": timezone}],
        "actions": [{"type": "create_task", "title": "tick"}],
        **extra,
    }
    save_document(db, document, actor="tester")


def _set_next_fire(db: Database, when: datetime | None) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.update(table_of(WorkflowTrigger)).values(next_fire_at=when))


def _next_fire(db: Database) -> datetime | None:
    with session_scope(db) as session:
        value = session.exec(select(WorkflowTrigger.next_fire_at)).one()
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def _executions(db: Database) -> list[WorkflowExecution]:
    with session_scope(db) as session:
        query = select(WorkflowExecution).order_by(col(WorkflowExecution.created_at))
        return list(session.exec(query).all())


def _settings(db: Database, **workflow: Any) -> Settings:
    settings = settings_for_url(db.url)
    for key, value in workflow.items():
        setattr(settings.workflow, key, value)
    return settings


def test_first_sight_only_sets_the_next_fire_time(any_db: Database) -> None:
    _save(any_db)
    assert cron_tick(any_db, RecordingQueue(), _settings(any_db), now=NOW) == []
    assert _next_fire(any_db) == datetime(2025, 3, 10, 12, 1, tzinfo=UTC)
    assert _executions(any_db) == []


def test_a_due_fire_time_runs_once_even_when_ticked_twice(any_db: Database) -> None:
    _save(any_db)
    fire = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    _set_next_fire(any_db, fire)
    queue = RecordingQueue()
    created = cron_tick(any_db, queue, _settings(any_db), now=NOW)
    assert len(created) == 1 and queue.dispatched == created
    _set_next_fire(any_db, fire)  # a second consumer that read the same due row
    assert cron_tick(any_db, queue, _settings(any_db), now=NOW) == []
    (execution,) = _executions(any_db)
    assert execution.trigger_type == "schedule"
    assert execution.trigger_data["scheduled_for"] == fire.isoformat()
    assert execution.dedupe_key is not None and execution.dedupe_key.endswith(fire.isoformat())
    assert _next_fire(any_db) == datetime(2025, 3, 10, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("policy", "grace", "expected"),
    [
        ("once", 60.0, ["12:00"]),
        ("skip", 10.0, []),  # the latest fire is 30 s old
        ("skip", 60.0, ["12:00"]),
        ("all", 60.0, ["11:58", "11:59", "12:00"]),  # 5 missed, capped at 3
    ],
)
def test_missed_fire_times_follow_the_misfire_policy(
    any_db: Database, policy: str, grace: float, expected: list[str]
) -> None:
    _save(any_db)
    _set_next_fire(any_db, datetime(2025, 3, 10, 11, 56, tzinfo=UTC))
    settings = _settings(any_db, misfire_policy=policy, misfire_grace=grace, misfire_max_runs=3)
    cron_tick(any_db, RecordingQueue(), settings, now=NOW)
    fired = sorted(e.trigger_data["scheduled_for"][11:16] for e in _executions(any_db))
    assert fired == expected
    assert all(e.trigger_data["missed"] == 5 for e in _executions(any_db))


def test_disabled_time_is_not_missed_time(any_db: Database) -> None:
    _save(any_db)
    _set_next_fire(any_db, datetime(2025, 3, 10, 11, 0, tzinfo=UTC))
    set_enabled(any_db, "ticker", False, actor="tester")
    cron_tick(any_db, RecordingQueue(), _settings(any_db), now=NOW)
    assert _executions(any_db) == [] and _next_fire(any_db) is None
    set_enabled(any_db, "ticker", True, actor="tester")
    cron_tick(any_db, RecordingQueue(), _settings(any_db), now=NOW + timedelta(hours=1))
    assert _executions(any_db) == []  # enabling starts counting from now
    assert _next_fire(any_db) == datetime(2025, 3, 10, 13, 1, tzinfo=UTC)


def test_the_cron_reads_in_the_trigger_time_zone(any_db: Database) -> None:
    _save(any_db, cron="0 9 * * *", timezone="Europe/Berlin")
    cron_tick(any_db, RecordingQueue(), _settings(any_db), now=NOW)
    # 9:00 in Berlin on 11 March 2025 (CET, UTC+1) is 8:00 UTC.
    assert _next_fire(any_db) == datetime(2025, 3, 11, 8, 0, tzinfo=UTC)


def test_the_daily_cleanup_is_due_once_after_its_time(sqlite_db: Database) -> None:
    settings = _settings(sqlite_db)
    settings.retention.cleanup_time = "03:00"
    assert not cleanup_due(sqlite_db, settings, datetime(2025, 3, 10, 2, 59, tzinfo=UTC))
    assert cleanup_due(sqlite_db, settings, datetime(2025, 3, 10, 3, 0, tzinfo=UTC))
    with session_scope(sqlite_db) as session:
        session.add(
            AuditLog(actor="w", action="maintenance.cleanup", target_type="database",
                     timestamp=datetime(2025, 3, 10, 3, 1, tzinfo=UTC))
        )  # fmt: skip
    assert not cleanup_due(sqlite_db, settings, datetime(2025, 3, 10, 9, 0, tzinfo=UTC))
    assert cleanup_due(sqlite_db, settings, datetime(2025, 3, 11, 3, 5, tzinfo=UTC))


def test_a_worker_fires_a_due_schedule_and_runs_it(sqlite_db: Database, tmp_path: Path) -> None:
    _save(sqlite_db)
    settings = Settings.model_validate(
        {
            "database": {"url": sqlite_db.url},
            "queue": {"path": str(tmp_path / "q.db"), "sweep_interval": 0.2},
        }
    )
    _set_next_fire(sqlite_db, datetime.now(UTC) - timedelta(seconds=1))
    with EmbeddedWorker(Queue(settings, db=sqlite_db)):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done = [e for e in _executions(sqlite_db) if e.status == "SUCCESS"]
            if done:
                break
            time.sleep(0.1)
    (execution,) = _executions(sqlite_db)
    assert (execution.trigger_type, execution.status) == ("schedule", "SUCCESS")


def test_two_consumers_through_ten_fire_times_make_exactly_ten(any_db: Database) -> None:
    import threading

    _save(any_db)
    start = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    _set_next_fire(any_db, start)
    settings = _settings(any_db)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def consumer() -> None:
        try:
            for minute in range(10):
                barrier.wait(timeout=30)  # both tick the same moment: they race
                now = start + timedelta(minutes=minute, seconds=5)
                cron_tick(any_db, RecordingQueue(), settings, now=now)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=consumer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    fired = sorted(e.trigger_data["scheduled_for"] for e in _executions(any_db))
    assert fired == [(start + timedelta(minutes=m)).isoformat() for m in range(10)]


def test_after_a_long_outage_the_latest_fire_times_are_the_ones_kept(any_db: Database) -> None:
    _save(any_db)
    _set_next_fire(any_db, NOW - timedelta(days=2))  # 2,881 missed minutes
    settings = _settings(any_db, misfire_policy="all", misfire_max_runs=2)
    cron_tick(any_db, RecordingQueue(), settings, now=NOW)
    fired = sorted(e.trigger_data["scheduled_for"] for e in _executions(any_db))
    assert fired == ["2025-03-10T11:59:00+00:00", "2025-03-10T12:00:00+00:00"]
    assert {e.trigger_data["missed"] for e in _executions(any_db)} == {2881}


def test_beyond_the_walk_limit_the_fire_times_just_before_now_are_taken() -> None:
    from engine.triggers.cron import missed_fires

    times, total = missed_fires("* * * * *", "UTC", NOW - timedelta(days=30), NOW, limit=3)
    assert total == 20_000
    assert times == [NOW.replace(second=0) - timedelta(minutes=m) for m in (2, 1, 0)]


def test_one_daily_cleanup_at_a_time_across_processes(postgres_db: Database) -> None:
    from engine.workers.housekeeping import LOCK_KEY, PeriodicWork

    settings = _settings(postgres_db)
    settings.retention.cleanup_time = "00:00"
    work = PeriodicWork(postgres_db, settings, RecordingQueue())
    now = datetime.now(UTC)

    def cleanups() -> int:
        with session_scope(postgres_db) as session:
            query = select(AuditLog).where(AuditLog.action == "maintenance.cleanup")
            return len(session.exec(query).all())

    with postgres_db.engine.connect() as other:  # another worker holds the lock
        other.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
        work._cleanup_once(now)
        assert cleanups() == 0
        other.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
        other.commit()
    work._cleanup_once(now)
    work._cleanup_once(now)  # already done today
    assert cleanups() == 1
