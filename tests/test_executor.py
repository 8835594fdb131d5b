"""The executor, run in-process against a real database, a real SqliteHuey and a loopback
HTTP sink: claims, steps, retries, timeouts, the concurrency cap, cancel, manual retry,
the workflow's counters and the sweeper. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from engine.config import Settings
from engine.db import Database, connect_database, open_database, upgrade
from engine.execution import claims as store
from engine.execution.decisions import Outcome
from engine.execution.executor import Executor
from engine.models import FINAL_STATUSES, utcnow
from engine.queue.sweeper import WORKER_LOST, sweep
from engine.security import outbound
from engine.services.control import cancel_executions, retry_executions
from engine.services.workflows import save_document
from engine.triggers.new_executions import emit_from_step, run_workflow
from engine.workers.runtime import Queue
from tests import http_sink as sink_fixtures
from tests.conftest import settings_for_url
from tests.http_sink import HttpSink, Reply
from tests.pg import fresh_postgres_url

http_sink = sink_fixtures.http_sink
E, W = store.E, store.W


# --- helpers shared with the queue and CLI tests ----------------------------------------


def webhook_action(url: str, **fields: Any) -> dict[str, Any]:
    """A POST webhook step to ``url``."""
    return {"type": "webhook", "method": "POST", "url": url, "body": {"n": 1}, **fields}


def workflow_document(name: str, urls: list[str], **fields: Any) -> dict[str, Any]:
    """An enabled, manually triggered workflow with one webhook step per URL."""
    document: dict[str, Any] = {
        "name": name,
        "enabled": True,
        "max_retries": 3,
        "retry_delay": 10,
        "timeout": 30,
        "triggers": [{"type": "manual"}],
        "actions": [webhook_action(url) for url in urls],
    }
    document.update(fields)
    return document


def execution_row(db: Database, execution_id: str) -> Any:
    """The execution's row as stored."""
    with db.engine.connect() as conn:
        return conn.execute(sa.select(store.EXECUTIONS).where(E.id == execution_id)).one()


def step_rows(db: Database, execution_id: str) -> list[Any]:
    """The execution's step rows, by index."""
    steps = store.STEPS
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(steps)
                .where(steps.c.execution_id == execution_id)
                .order_by(steps.c.step_index)
            )
        )


def make_due(db: Database, execution_id: str, *, ago: float = 0.0) -> None:
    """Move a PENDING row's available_at to ``ago`` seconds in the past (skip the wait)."""
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(store.EXECUTIONS)
            .where(E.id == execution_id)
            .values(available_at=utcnow() - timedelta(seconds=ago))
        )


def _same_instant(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) < 1e-3


def assert_counters_match_table(db: Database, workflow_name: str) -> None:
    """The workflow's counters equal what its executions table says."""
    with db.engine.connect() as conn:
        workflow = conn.execute(sa.select(store.WORKFLOWS).where(W.name == workflow_name)).one()
        rows = conn.execute(
            sa.select(E.status, E.duration_ms, E.completed_at).where(E.workflow_id == workflow.id)
        ).all()
    final = [r for r in rows if r.status in FINAL_STATUSES]
    timed = [r.duration_ms for r in final if r.status in ("SUCCESS", "FAILED")]
    assert workflow.execution_count == len(final)
    assert workflow.success_count == sum(r.status == "SUCCESS" for r in final)
    assert workflow.failure_count == sum(r.status == "FAILED" for r in final)
    if timed:
        assert workflow.avg_execution_ms == pytest.approx(sum(timed) / len(timed), rel=1e-6)
    else:
        assert workflow.avg_execution_ms is None
    latest = max((r.completed_at for r in final), default=None)
    assert _same_instant(workflow.last_execution_at, latest)


def keys_seen(sink: HttpSink) -> list[str]:
    """The Idempotency-Key of every request the sink received, in order."""
    return [request.headers.get("idempotency-key", "") for request in sink.requests]


# --- fixtures ---------------------------------------------------------------------------


@dataclass
class Engine:
    """One database, a real local queue and an executor, as a worker process has them."""

    db: Database
    settings: Settings
    queue: Queue
    executor: Executor

    def workflow(self, name: str, urls: list[str], **fields: Any) -> str:
        save_document(self.db, workflow_document(name, urls, **fields), actor="tester")
        return name

    def trigger(self, name: str, data: dict[str, Any] | None = None) -> str:
        [execution_id] = run_workflow(self.db, self.queue, name, data, actor="tester")
        return execution_id

    def run(self, execution_id: str) -> Outcome:
        return self.executor.run(execution_id)


def make_engine(db: Database, tmp_path: Path, **workflow_settings: Any) -> Engine:
    settings = Settings.model_validate(
        {
            "database": {"url": db.url},
            "queue": {"path": str(tmp_path / "queue.db"), "name": "executor-tests"},
            "security": {"allow_private_targets": True},
            # One HTTP request per attempt, so the sink counts attempts.
            "workflow": {"webhook_max_retries": 0, **workflow_settings},
        }
    )
    queue = Queue(settings, db=db)
    executor = Executor(db, settings, "test-worker", emit_event=emit_from_step)
    return Engine(db, settings, queue, executor)


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    outbound.close_clients()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def migrated_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """One migrated database per backend for the whole module (migrating is the slow part)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('executor') / 'test.db'}"
        db = open_database(settings_for_url(url))
        yield db
        db.dispose()
        return
    with fresh_postgres_url("wf_executor") as url:
        db = connect_database(settings_for_url(url))
        upgrade(db)
        yield db
        db.dispose()


@pytest.fixture
def db(migrated_db: Database) -> Iterator[Database]:
    """The module's database, emptied after each test."""
    yield migrated_db
    with migrated_db.engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def engine(db: Database, tmp_path: Path) -> Engine:
    return make_engine(db, tmp_path)


@pytest.fixture
def second_sink() -> Iterator[HttpSink]:
    with HttpSink() as sink:
        yield sink


# --- one attempt ------------------------------------------------------------------------


def test_webhook_step_succeeds_and_records_the_sinks_status(
    engine: Engine, http_sink: HttpSink
) -> None:
    http_sink.reply(Reply(status=201, body=b'{"ok": true}'))
    name = engine.workflow("one-hook", [http_sink.url("/hook")])
    execution_id = engine.trigger(name)

    outcome = engine.run(execution_id)

    assert outcome.status == "SUCCESS"
    row = execution_row(engine.db, execution_id)
    assert row.status == "SUCCESS"
    assert row.completed_at is not None and row.duration_ms is not None
    assert row.lease_until is None
    [step] = step_rows(engine.db, execution_id)
    assert (step.step_index, step.status, step.result["status_code"]) == (0, "SUCCESS", 201)
    assert keys_seen(http_sink) == [f"{execution_id}:0"]
    assert_counters_match_table(engine.db, name)


def test_execution_writes_log_rows_a_person_can_follow(engine: Engine, http_sink: HttpSink) -> None:
    name = engine.workflow("logged", [http_sink.url("/hook")])
    execution_id = engine.trigger(name)
    engine.run(execution_id)
    with engine.db.engine.connect() as conn:
        logs = conn.execute(
            sa.select(store.LOGS.c.level, store.LOGS.c.message)
            .where(store.LOGS.c.execution_id == execution_id)
            .order_by(store.LOGS.c.id)
        ).all()
    messages = [m for _, m in logs]
    assert messages[0].startswith("attempt 1 started")
    assert any("step 0 (webhook)" in m and "HTTP 200" in m for m in messages)
    assert messages[-1].startswith("finished SUCCESS")


def test_false_conditions_skip_without_a_request(engine: Engine, http_sink: HttpSink) -> None:
    name = engine.workflow(
        "big-only", [http_sink.url("/hook")],
        conditions={"path": "trigger.amount", "op": "gt", "value": 1000},
    )  # fmt: skip
    execution_id = engine.trigger(name, {"amount": 5})

    assert engine.run(execution_id).status == "SKIPPED"

    assert execution_row(engine.db, execution_id).status == "SKIPPED"
    assert http_sink.requests == []
    assert step_rows(engine.db, execution_id) == []
    assert_counters_match_table(engine.db, name)


def test_counters_match_the_table_after_a_mix_of_outcomes(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow(
        "mixed", [http_sink.url("/hook")],
        conditions={"path": "trigger.go", "op": "eq", "value": True},
    )  # fmt: skip
    http_sink.reply(Reply(200), Reply(404), Reply(200))
    outcomes = [engine.run(engine.trigger(name, {"go": True})) for _ in range(3)]
    skipped = engine.run(engine.trigger(name, {"go": False}))
    [cancelled] = cancel_executions(engine.db, [engine.trigger(name, {"go": True})], actor="t")
    engine.trigger(name, {"go": True})  # still PENDING: not counted

    assert [o.status for o in outcomes] == ["SUCCESS", "FAILED", "SUCCESS"]
    assert (skipped.status, cancelled.outcome) == ("SKIPPED", "cancelled")
    assert_counters_match_table(engine.db, name)
    with engine.db.engine.connect() as conn:
        counts = conn.execute(
            sa.select(W.execution_count, W.success_count, W.failure_count).where(W.name == name)
        ).one()
    assert tuple(counts) == (5, 2, 1)


# --- retries ------------------------------------------------------------------------------


def test_transient_failure_goes_back_to_pending_with_growing_delays(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("flaky", [http_sink.url("/hook")], retry_delay=10)
    http_sink.reply(Reply(503), Reply(503))
    execution_id = engine.trigger(name)

    first = engine.run(execution_id)
    row = execution_row(engine.db, execution_id)
    assert (first.status, row.status, row.retry_count) == ("RETRY", "PENDING", 1)
    assert first.retry_in is not None and 9.0 <= first.retry_in <= 11.0
    due_in = (row.available_at - utcnow()).total_seconds()
    assert first.retry_in - 1.0 <= due_in <= first.retry_in
    assert "HTTP 503" in (row.error or "")
    # Not due yet: a message arriving early runs nothing and says when to look again.
    early = engine.run(execution_id)
    assert early.status == "NOOP" and early.retry_in is not None and early.retry_in > 8.0
    assert len(http_sink.requests) == 1

    make_due(engine.db, execution_id)
    second = engine.run(execution_id)
    assert second.status == "RETRY"
    assert second.retry_in is not None and 18.0 <= second.retry_in <= 22.0
    assert execution_row(engine.db, execution_id).retry_count == 2

    make_due(engine.db, execution_id)
    assert engine.run(execution_id).status == "SUCCESS"
    assert keys_seen(http_sink) == [f"{execution_id}:0"] * 3
    assert_counters_match_table(engine.db, name)


def test_queue_schedules_the_retry_the_executor_asked_for(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("flaky-queued", [http_sink.url("/hook")], retry_delay=10)
    http_sink.reply(Reply(503))
    execution_id = engine.trigger(name)
    [trigger_message] = engine.queue.huey.pending()

    outcome = engine.queue.handle(execution_id)

    assert outcome.status == "RETRY" and outcome.retry_in is not None
    [retry_message] = [t for t in engine.queue.huey.pending() if t.id != trigger_message.id]
    assert retry_message.args == (execution_id,)
    assert retry_message.eta is not None
    due_in = (retry_message.eta - datetime.now(UTC).replace(tzinfo=None)).total_seconds()
    assert outcome.retry_in - 1.0 <= due_in <= outcome.retry_in


def test_retry_resumes_after_the_last_finished_step(
    engine: Engine, http_sink: HttpSink, second_sink: HttpSink
) -> None:
    name = engine.workflow("two-steps", [http_sink.url("/first"), second_sink.url("/second")])
    second_sink.reply(Reply(503))
    execution_id = engine.trigger(name)

    assert engine.run(execution_id).status == "RETRY"
    assert execution_row(engine.db, execution_id).next_step == 1
    make_due(engine.db, execution_id)
    assert engine.run(execution_id).status == "SUCCESS"

    assert keys_seen(http_sink) == [f"{execution_id}:0"]
    assert keys_seen(second_sink) == [f"{execution_id}:1"] * 2
    steps = step_rows(engine.db, execution_id)
    assert [(s.step_index, s.status) for s in steps] == [(0, "SUCCESS"), (1, "SUCCESS")]
    assert steps[1].attempt == 1
    assert_counters_match_table(engine.db, name)


def test_permanent_4xx_fails_at_once_without_retry(engine: Engine, http_sink: HttpSink) -> None:
    name = engine.workflow("gone", [http_sink.url("/missing")], max_retries=3)
    http_sink.reply(Reply(404, b"no such hook"))
    execution_id = engine.trigger(name)

    outcome = engine.run(execution_id)

    row = execution_row(engine.db, execution_id)
    assert (outcome.status, row.status, row.retry_count) == ("FAILED", "FAILED", 0)
    assert "HTTP 404" in (row.error or "")
    assert len(http_sink.requests) == 1
    [step] = step_rows(engine.db, execution_id)
    assert (step.status, step.result["status_code"]) == ("FAILED", 404)
    assert_counters_match_table(engine.db, name)


def test_hung_target_fails_with_a_timeout_inside_the_workflow_timeout(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("hung", [http_sink.url("/slow")], timeout=2, max_retries=3)
    http_sink.reply(Reply(delay=30))
    execution_id = engine.trigger(name)

    started = time.monotonic()
    outcome = engine.run(execution_id)
    elapsed = time.monotonic() - started

    row = execution_row(engine.db, execution_id)
    assert (outcome.status, row.status) == ("FAILED", "FAILED")
    assert "time" in (row.error or "") and "out" in (row.error or "")
    assert 1.5 <= elapsed <= 2.0 + 1.5
    assert len(http_sink.requests) == 1


# --- claims and the cap -------------------------------------------------------------------


def _claim(db: Database, execution_id: str, *, lease: float = 60.0, cap: int = 10) -> Any:
    now = utcnow()
    with db.engine.begin() as conn:
        return store.claim(
            conn, execution_id, now=now, lease_until=now + timedelta(seconds=lease),
            worker_id="other-worker", max_running=cap,
        )  # fmt: skip


def test_claiming_the_same_execution_twice_refuses_the_second(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("once", [http_sink.url("/hook")])
    execution_id = engine.trigger(name)

    first = _claim(engine.db, execution_id)
    second = _claim(engine.db, execution_id)
    duplicate = engine.run(execution_id)

    assert isinstance(first, store.Claimed) and first.id == execution_id
    assert second == store.ClaimRefusal("not_pending")
    assert duplicate == Outcome("NOOP")
    assert http_sink.requests == []
    assert execution_row(engine.db, execution_id).worker_id == "other-worker"


def test_a_finished_execution_is_not_run_again(engine: Engine, http_sink: HttpSink) -> None:
    name = engine.workflow("done-once", [http_sink.url("/hook")])
    execution_id = engine.trigger(name)
    assert engine.run(execution_id).status == "SUCCESS"
    assert engine.run(execution_id) == Outcome("NOOP")
    assert len(http_sink.requests) == 1


def test_claim_is_refused_as_busy_at_the_concurrency_cap(
    db: Database, tmp_path: Path, http_sink: HttpSink
) -> None:
    engine = make_engine(db, tmp_path, max_concurrent_executions=1)
    name = engine.workflow("capped", [http_sink.url("/hook")])
    running, waiting = engine.trigger(name), engine.trigger(name)
    assert isinstance(_claim(engine.db, running, cap=1), store.Claimed)

    assert _claim(engine.db, waiting, cap=1) == store.ClaimRefusal("busy")
    outcome = engine.run(waiting)

    assert outcome.status == "NOOP"
    assert outcome.retry_in is not None and 0.5 <= outcome.retry_in <= 1.0
    assert execution_row(engine.db, waiting).status == "PENDING"
    assert http_sink.requests == []


# --- cancel and manual retry --------------------------------------------------------------


def test_a_failed_step_that_continues_is_committed_before_the_next_step(
    engine: Engine, http_sink: HttpSink, second_sink: HttpSink
) -> None:
    actions = [
        webhook_action(http_sink.url("/optional"), continue_on_error=True),
        webhook_action(second_sink.url("/slow")),
    ]
    name = engine.workflow("continue-then-slow", [], actions=actions)
    http_sink.reply(Reply(404))
    second_sink.reply(Reply(delay=1.0))
    execution_id = engine.trigger(name)
    outcomes: list[Outcome] = []
    worker = threading.Thread(target=lambda: outcomes.append(engine.run(execution_id)))
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while not second_sink.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert second_sink.requests, "step 1 never started"
        # A worker dying now must not send step 0 again on retry.
        in_flight = execution_row(engine.db, execution_id)
    finally:
        worker.join(10)

    assert in_flight.next_step == 1
    assert [s.status for s in step_rows(engine.db, execution_id)] == ["FAILED", "SUCCESS"]
    assert [o.status for o in outcomes] == ["SUCCESS"]


def test_cancel_on_pending_is_immediate_and_counted_once(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("cancel-me", [http_sink.url("/hook")])
    execution_id = engine.trigger(name)

    [result] = cancel_executions(engine.db, [execution_id], actor="tester")
    [again] = cancel_executions(engine.db, [execution_id], actor="tester")

    assert (result.outcome, again.outcome) == ("cancelled", "already CANCELLED")
    row = execution_row(engine.db, execution_id)
    assert (row.status, row.error) == ("CANCELLED", "cancelled")
    assert engine.run(execution_id) == Outcome("NOOP")
    assert http_sink.requests == []
    assert_counters_match_table(engine.db, name)
    with engine.db.engine.connect() as conn:
        count = conn.execute(sa.select(W.execution_count).where(W.name == name)).scalar_one()
    assert count == 1


def test_cancel_on_running_stops_before_the_next_step(
    engine: Engine, http_sink: HttpSink, second_sink: HttpSink
) -> None:
    name = engine.workflow("cancel-running", [http_sink.url("/slow"), second_sink.url("/next")])
    http_sink.reply(Reply(delay=1.0))
    execution_id = engine.trigger(name)
    outcomes: list[Outcome] = []
    worker = threading.Thread(target=lambda: outcomes.append(engine.run(execution_id)))
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while not http_sink.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert http_sink.requests, "step 0 never started"
        [result] = cancel_executions(engine.db, [execution_id], actor="tester")
        assert result.outcome == "cancel requested"
    finally:
        worker.join(10)
    assert not worker.is_alive()

    assert [o.status for o in outcomes] == ["CANCELLED"]
    assert execution_row(engine.db, execution_id).status == "CANCELLED"
    assert second_sink.requests == []
    assert [s.step_index for s in step_rows(engine.db, execution_id)] == [0]
    assert_counters_match_table(engine.db, name)


def test_cancel_on_running_is_not_undone_by_a_retry(engine: Engine, http_sink: HttpSink) -> None:
    name = engine.workflow("cancel-then-fail", [http_sink.url("/flaky")], max_retries=3)
    http_sink.reply(Reply(503, delay=1.0))
    execution_id = engine.trigger(name)
    outcomes: list[Outcome] = []
    worker = threading.Thread(target=lambda: outcomes.append(engine.run(execution_id)))
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while not http_sink.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        [result] = cancel_executions(engine.db, [execution_id], actor="tester")
        assert result.outcome == "cancel requested"
    finally:
        worker.join(10)

    assert [o.status for o in outcomes] == ["CANCELLED"]
    row = execution_row(engine.db, execution_id)
    assert (row.status, row.retry_count) == ("CANCELLED", 0)
    assert_counters_match_table(engine.db, name)


def test_sweeper_cancels_a_lost_run_whose_cancel_was_requested(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("lost-and-cancelled", [http_sink.url("/hook")])
    execution_id = engine.trigger(name)
    assert isinstance(_claim(engine.db, execution_id, lease=-1), store.Claimed)
    [result] = cancel_executions(engine.db, [execution_id], actor="tester")
    assert result.outcome == "cancel requested"

    report = sweep(engine.db)

    assert report.enqueue == []
    assert execution_row(engine.db, execution_id).status == "CANCELLED"
    assert engine.run(execution_id) == Outcome("NOOP")
    assert http_sink.requests == []
    assert_counters_match_table(engine.db, name)


def test_manual_retry_of_a_failed_execution_runs_it_again(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("fix-and-retry", [http_sink.url("/hook")])
    http_sink.reply(Reply(404))
    execution_id = engine.trigger(name)
    assert engine.run(execution_id).status == "FAILED"
    queued = engine.queue.huey.pending_count()

    assert retry_executions(engine.db, engine.queue, [execution_id], actor="tester") == [
        execution_id
    ]
    row = execution_row(engine.db, execution_id)
    assert (row.status, row.retry_count, row.completed_at) == ("PENDING", 1, None)
    assert engine.queue.huey.pending_count() == queued + 1
    assert engine.run(execution_id).status == "SUCCESS"

    assert keys_seen(http_sink) == [f"{execution_id}:0"] * 2
    assert [s.status for s in step_rows(engine.db, execution_id)] == ["SUCCESS"]
    assert_counters_match_table(engine.db, name)


# --- the sweeper --------------------------------------------------------------------------


def test_sweeper_hands_an_expired_lease_back_for_retry(engine: Engine, http_sink: HttpSink) -> None:
    name = engine.workflow("lost-worker", [http_sink.url("/hook")])
    execution_id = engine.trigger(name)
    assert isinstance(_claim(engine.db, execution_id, lease=-1), store.Claimed)

    report = sweep(engine.db)

    assert (report.retried, report.failed, report.enqueue) == (1, 0, [execution_id])
    row = execution_row(engine.db, execution_id)
    assert (row.status, row.retry_count, row.error, row.worker_id) == (
        "PENDING", 1, WORKER_LOST, None,
    )  # fmt: skip
    assert engine.run(execution_id).status == "SUCCESS"
    assert_counters_match_table(engine.db, name)


def test_sweeper_fails_a_lost_run_when_retries_are_spent(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("lost-for-good", [http_sink.url("/hook")], max_retries=0)
    execution_id = engine.trigger(name)
    assert isinstance(_claim(engine.db, execution_id, lease=-1), store.Claimed)

    report = sweep(engine.db)

    assert (report.retried, report.failed, report.enqueue) == (0, 1, [])
    row = execution_row(engine.db, execution_id)
    assert (row.status, row.error) == ("FAILED", WORKER_LOST)
    assert row.completed_at is not None and row.duration_ms is not None
    assert_counters_match_table(engine.db, name)
    with engine.db.engine.connect() as conn:
        failures = conn.execute(sa.select(W.failure_count).where(W.name == name)).scalar_one()
    assert failures == 1


def test_sweeper_leaves_a_live_lease_alone(engine: Engine, http_sink: HttpSink) -> None:
    name = engine.workflow("still-working", [http_sink.url("/hook")])
    execution_id = engine.trigger(name)
    assert isinstance(_claim(engine.db, execution_id, lease=60), store.Claimed)

    report = sweep(engine.db)

    assert (report.retried, report.failed, report.enqueue) == (0, 0, [])
    assert execution_row(engine.db, execution_id).status == "RUNNING"


def test_sweeper_reenqueues_a_long_due_pending_run_once(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("lost-message", [http_sink.url("/hook")])
    stale, fresh = engine.trigger(name), engine.trigger(name)
    make_due(engine.db, stale, ago=31)
    make_due(engine.db, fresh, ago=5)

    first = sweep(engine.db)
    second = sweep(engine.db)

    assert first.enqueue == [stale]
    assert second.enqueue == []
    assert execution_row(engine.db, stale).status == "PENDING"
