"""Claims and the concurrency cap; cancel and manual retry."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from engine.db import Database
from engine.execution import claims as store
from engine.execution.decisions import Outcome
from engine.queue.sweeper import sweep
from engine.services.control import cancel_executions, retry_executions
from tests.execution_support import (
    Engine,
    W,
    assert_counters_match_table,
    await_request,
    claim_now,
    execution_row,
    keys_seen,
    make_engine,
    run_in_background,
    step_rows,
    webhook_action,
)
from tests.http_sink import HttpSink, Reply

# --- claims and the cap -------------------------------------------------------------------


def test_claiming_the_same_execution_twice_refuses_the_second(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("once", [http_sink.url("/hook")])
    execution_id = engine.trigger(name)

    first = claim_now(engine.db, execution_id)
    second = claim_now(engine.db, execution_id)
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
    assert isinstance(claim_now(engine.db, running, cap=1), store.Claimed)

    assert claim_now(engine.db, waiting, cap=1) == store.ClaimRefusal("busy")
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
    worker, outcomes = run_in_background(engine, execution_id)
    try:
        await_request(second_sink, "step 1")
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
    worker, outcomes = run_in_background(engine, execution_id)
    try:
        await_request(http_sink, "step 0")
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
    worker, outcomes = run_in_background(engine, execution_id)
    try:
        await_request(http_sink, "step 0")
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
    assert isinstance(claim_now(engine.db, execution_id, lease=-1), store.Claimed)
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
