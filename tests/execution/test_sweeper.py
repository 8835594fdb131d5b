"""The sweeper, as the executor meets it: expired leases, lost runs, due PENDING rows."""

from __future__ import annotations

import sqlalchemy as sa

from engine.execution import claims as store
from engine.queue.sweeper import WORKER_LOST, sweep
from tests.execution_support import (
    Engine,
    W,
    assert_counters_match_table,
    claim_now,
    execution_row,
    make_due,
)
from tests.http_sink import HttpSink

# --- the sweeper --------------------------------------------------------------------------


def test_sweeper_hands_an_expired_lease_back_for_retry(engine: Engine, http_sink: HttpSink) -> None:
    name = engine.workflow("lost-worker", [http_sink.url("/hook")])
    execution_id = engine.trigger(name)
    assert isinstance(claim_now(engine.db, execution_id, lease=-1), store.Claimed)

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
    assert isinstance(claim_now(engine.db, execution_id, lease=-1), store.Claimed)

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
    assert isinstance(claim_now(engine.db, execution_id, lease=60), store.Claimed)

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


def test_after_the_queue_lost_its_messages_due_runs_are_enqueued_at_once(
    engine: Engine, http_sink: HttpSink
) -> None:
    # A Redis restarted without persistence: their messages are gone, 30 s is too long.
    name = engine.workflow("lost-queue", [http_sink.url("/hook")])
    due = engine.trigger(name)
    make_due(engine.db, due, ago=2)

    assert sweep(engine.db).enqueue == []  # not 30 s overdue
    assert sweep(engine.db, queue_emptied=True, queue_depth=1).enqueue == []  # maybe queued
    assert sweep(engine.db, queue_emptied=True).enqueue == [due]
    assert sweep(engine.db).enqueue == []
