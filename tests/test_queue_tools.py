"""Queue tools: the counts maintenance shows, and flushing locks held by dead workers.

Every test runs on SQLite + SqliteHuey and on PostgreSQL + Redis. A "dead" worker is a
heartbeat row last refreshed minutes ago; a "live" one was refreshed just now. The runs
they hold are real claims (``execution_store.claim``) with the lease the test gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from sqlmodel import select

from engine.access.roles import PermissionDenied
from engine.db import session_scope
from engine.execution import claims as store
from engine.models import AuditLog, utcnow
from engine.queue.heartbeat import write_beat
from engine.queue.instance import make_huey
from engine.queue.locks import held_locks, hold_lock
from engine.queue.sweeper import sweep
from engine.security import outbound
from engine.services.queue_tools import (
    FlushResult,
    QueueReport,
    flush_stale_locks,
    inspect_queue,
)
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow
from engine.workers.runtime import EmbeddedWorker
from tests import http_sink as sink_fixtures
from tests.consumers import Deployment, deployment, wait_until
from tests.execution_support import execution_row, keys_seen, workflow_document
from tests.http_sink import HttpSink, Reply

http_sink = sink_fixtures.http_sink
E = store.E
DEAD, LIVE = "deadhost:101", "livehost:202"


@pytest.fixture(params=["sqlite", "postgres"])
def deployed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    with deployment(request.param, tmp_path) as deployed:
        yield deployed


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    outbound.close_clients()


def beat(deployed: Deployment, process: str, *, seconds_ago: float) -> None:
    """A heartbeat row of ``process`` (``host:pid``) last refreshed ``seconds_ago``."""
    seen = utcnow() - timedelta(seconds=seconds_ago)
    write_beat(deployed.db, f"{process}:0a0b0c0d", kind="consumer",
               started_at=seen - timedelta(hours=1), now=seen)  # fmt: skip


def start(deployed: Deployment, workflow: str) -> str:
    [execution_id] = run_workflow(deployed.db, deployed.queue, workflow, actor="tester")
    return execution_id


def claim_as(deployed: Deployment, execution_id: str, worker: str, *, lease: float) -> None:
    """``worker`` claims the run with a lease ending ``lease`` seconds from now."""
    now = utcnow()
    with deployed.db.engine.begin() as conn:
        claimed = store.claim(conn, execution_id, now=now, worker_id=worker, max_running=100,
                              lease_until=now + timedelta(seconds=lease))  # fmt: skip
    assert isinstance(claimed, store.Claimed)


def report(deployed: Deployment) -> QueueReport:
    interval = deployed.settings.queue.heartbeat_interval
    return inspect_queue(deployed.db, deployed.queue.huey, heartbeat_interval=interval)


def flush(deployed: Deployment, plan: QueueReport, actor: str = "tester") -> FlushResult:
    interval = deployed.settings.queue.heartbeat_interval
    return flush_stale_locks(deployed.db, deployed.queue.huey, deployed.queue, plan,
                             actor=actor, heartbeat_interval=interval)  # fmt: skip


def audited(deployed: Deployment) -> list[AuditLog]:
    with session_scope(deployed.db) as session:
        rows = session.exec(select(AuditLog).where(AuditLog.action == "maintenance.flush_locks"))
        return list(rows.all())


def test_counts_messages_delayed_retries_and_pending_and_running_executions(
    deployed: Deployment, http_sink: HttpSink
) -> None:
    save_document(deployed.db, workflow_document("ok", [http_sink.url("/ok")]), actor="tester")
    save_document(deployed.db, workflow_document("flaky", [http_sink.url("/flaky")],
                                                 retry_delay=600), actor="tester")  # fmt: skip
    http_sink.reply(Reply(status=503))
    with EmbeddedWorker(deployed.queue, workers=1):  # it moves the retry into the schedule
        start(deployed, "flaky")
        assert wait_until(lambda: deployed.queue.huey.scheduled_count() == 1, 30)
    first, second = start(deployed, "ok"), start(deployed, "ok")
    beat(deployed, LIVE, seconds_ago=0)
    claim_as(deployed, second, LIVE, lease=60)

    seen = report(deployed)

    assert (seen.queued, seen.scheduled, seen.queue_error) == (2, 1, None)
    assert (seen.pending_due, seen.pending_later) == (1, 1)
    assert (seen.running, seen.running_expired, seen.held_by_dead) == (1, 0, 0)
    assert (seen.workers_alive, seen.workers_dead) == (1, 0)
    assert seen.nothing_stale
    assert execution_row(deployed.db, first).status == "PENDING"


def test_a_dead_workers_expired_lease_and_lock_are_flushed_and_the_run_completes_once(
    deployed: Deployment, http_sink: HttpSink
) -> None:
    save_document(deployed.db, workflow_document("hook", [http_sink.url("/hook")]), actor="tester")
    lost, lives_on, not_yet = (
        start(deployed, "hook"),
        start(deployed, "hook"),
        start(deployed, "hook"),
    )
    beat(deployed, DEAD, seconds_ago=600)
    beat(deployed, LIVE, seconds_ago=0)
    claim_as(deployed, lost, DEAD, lease=-5)
    claim_as(deployed, lives_on, LIVE, lease=-5)
    claim_as(deployed, not_yet, DEAD, lease=3600)
    huey = deployed.queue.huey
    with ExitStack() as held:
        held.enter_context(hold_lock(huey, "nightly-export", DEAD))
        held.enter_context(hold_lock(huey, "invoice-sync", LIVE))
        huey.lock_task("plain").acquire()  # names no holder: kept while a worker lives

        plan = report(deployed)
        assert [lease.execution_id for lease in plan.stale_leases] == [lost]
        assert [lock.name for lock in plan.stale_locks] == ["nightly-export"]
        assert (plan.running_expired, plan.held_by_dead) == (2, 1)

        result = flush(deployed, plan)

        assert (result.retried, result.failed, result.skipped) == (1, 0, 0)
        assert result.locks_released == ["nightly-export"]
        assert [lock.name for lock in held_locks(huey)] == ["invoice-sync", "plain"]
        handed_back = execution_row(deployed.db, lost)
        assert (handed_back.status, handed_back.retry_count, handed_back.worker_id) == (
            "PENDING", 1, None)  # fmt: skip
        for untouched, worker in ((lives_on, LIVE), (not_yet, DEAD)):
            row = execution_row(deployed.db, untouched)
            assert (row.status, row.worker_id, row.retry_count) == ("RUNNING", worker, 0)
        (audit,) = audited(deployed)
        assert audit.actor == "tester" and audit.details is not None
        assert audit.details["executions"] == [lost]
        assert audit.details["locks_released"] == ["nightly-export"]

    with EmbeddedWorker(deployed.queue, workers=2):
        assert wait_until(lambda: execution_row(deployed.db, lost).status == "SUCCESS", 30)
    assert keys_seen(http_sink).count(f"{lost}:0") == 1
    assert execution_row(deployed.db, lost).retry_count == 1


def test_a_flush_needs_admin_and_changes_nothing_without_it(deployed: Deployment) -> None:
    save_document(deployed.db, workflow_document("hook", ["http://127.0.0.1:9/"]), actor="tester")
    lost = start(deployed, "hook")
    beat(deployed, DEAD, seconds_ago=600)
    claim_as(deployed, lost, DEAD, lease=-5)
    plan = report(deployed)
    assert len(plan.stale_leases) == 1

    with pytest.raises(PermissionDenied, match="needs ADMIN"):
        flush(deployed, plan, actor="newcomer")  # a later user starts as VIEWER

    assert execution_row(deployed.db, lost).status == "RUNNING"
    assert audited(deployed) == []


def test_a_run_taken_back_since_the_plan_is_not_handed_back_twice(deployed: Deployment) -> None:
    save_document(deployed.db, workflow_document("hook", ["http://127.0.0.1:9/"]), actor="tester")
    lost = start(deployed, "hook")
    claim_as(deployed, lost, DEAD, lease=-5)  # no heartbeat row at all: not alive either
    plan = report(deployed)
    assert sweep(deployed.db).retried == 1  # a worker's sweeper got there first

    result = flush(deployed, plan)

    assert (result.retried, result.skipped) == (0, 1)
    assert execution_row(deployed.db, lost).retry_count == 1


def test_a_lock_naming_no_holder_is_stale_only_when_no_worker_is_alive(
    deployed: Deployment,
) -> None:
    huey = deployed.queue.huey
    huey.lock_task("plain").acquire()
    beat(deployed, DEAD, seconds_ago=600)

    plan = report(deployed)
    assert [(lock.name, lock.lock.owner, lock.stale) for lock in plan.locks] == [
        ("plain", None, True)]  # fmt: skip
    assert flush(deployed, plan).locks_released == ["plain"]
    assert not huey.is_locked("plain")


def test_a_lock_taken_again_since_the_plan_is_left_alone(deployed: Deployment) -> None:
    huey = deployed.queue.huey
    with ExitStack() as held:
        held.enter_context(hold_lock(huey, "export", DEAD))
        plan = report(deployed)
    with hold_lock(huey, "export", DEAD):  # released, then taken again: another value
        result = flush(deployed, plan)
        assert (result.locks_released, result.locks_kept) == ([], ["export"])
        assert huey.is_locked("export")


def test_a_queue_that_does_not_answer_is_reported_with_the_database_figures(
    tmp_path: Path,
) -> None:
    with deployment("postgres", tmp_path) as deployed:
        save_document(deployed.db, workflow_document("hook", ["http://127.0.0.1:9/"]),
                      actor="tester")  # fmt: skip
        start(deployed, "hook")
        unreachable = deployed.variant(tmp_path / "down.toml", redis_url="redis://127.0.0.1:1/0")
        seen = inspect_queue(deployed.db, make_huey(unreachable), heartbeat_interval=5)
    assert seen.queued is None and seen.queue_error
    assert seen.pending_due == 1


def test_a_flush_that_fails_partway_is_audited_with_what_it_released(tmp_path: Path) -> None:
    with deployment("postgres", tmp_path) as deployed:
        save_document(deployed.db, workflow_document("hook", ["http://127.0.0.1:9/"]),
                      actor="tester")  # fmt: skip
        lost = start(deployed, "hook")
        beat(deployed, DEAD, seconds_ago=600)
        claim_as(deployed, lost, DEAD, lease=-5)
        with hold_lock(deployed.queue.huey, "nightly-export", DEAD):
            plan = report(deployed)
            assert (len(plan.stale_leases), len(plan.stale_locks)) == (1, 1)
            # The leases go first; then Redis stops answering before the locks.
            unreachable = deployed.variant(tmp_path / "down.toml",
                                           redis_url="redis://127.0.0.1:1/0")  # fmt: skip
            with pytest.raises(redis.exceptions.ConnectionError, match="Connection refused"):
                flush_stale_locks(deployed.db, make_huey(unreachable), deployed.queue, plan,
                                  actor="tester", heartbeat_interval=5)  # fmt: skip
        [audit] = audited(deployed)
        row = execution_row(deployed.db, lost)
    assert (row.status, row.retry_count) == ("PENDING", 1)
    assert audit.details is not None
    error = audit.details.pop("error")
    assert audit.details == {
        "executions": [lost], "planned": 1, "retried": 1, "failed": 0, "cancelled": 0,
        "skipped": 0, "locks_released": [], "locks_kept": [], "completed": False,
    }  # fmt: skip
    assert "127.0.0.1:1" in error and "\n" not in error
