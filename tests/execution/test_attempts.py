"""One attempt and its retries: steps, logs, conditions, counters, timeouts."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import sqlalchemy as sa

from engine.execution import claims as store
from engine.models import utcnow
from engine.services.control import cancel_executions
from tests.execution_support import (
    Engine,
    W,
    assert_counters_match_table,
    execution_row,
    keys_seen,
    make_due,
    step_rows,
)
from tests.http_sink import HttpSink, Reply

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

    # Decided at ingress: stored SKIPPED by the trigger, nothing left for a worker.
    assert execution_row(engine.db, execution_id).status == "SKIPPED"
    assert engine.queue.huey.pending_count() == 0
    assert engine.run(execution_id).status == "NOOP"
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
    skipped = execution_row(engine.db, engine.trigger(name, {"go": False}))  # at ingress
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
