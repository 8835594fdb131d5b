"""Conditions decided at ingress (issue 14, item 2): a run whose conditions are false is
stored SKIPPED by its trigger — with the executor's log line and counters — and never
enqueued; a run whose conditions hold is enqueued and run as before. SQLite and
PostgreSQL (the ``engine`` fixture), every kind of trigger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from engine.execution import claims as store
from engine.execution.decisions import SKIPPED_LOG
from engine.models import WorkflowTrigger, table_of, utcnow
from engine.triggers.cron import cron_tick
from engine.triggers.new_executions import _row, emit_event, insert_executions
from engine.workflow_cache.lookups import find_workflow
from tests.execution_support import Engine, assert_counters_match_table, execution_row
from tests.http_sink import HttpSink

E, W = store.E, store.W
# What the executor's context for step 0 holds besides the trigger data: the conditions
# read all of it, so ingress must build the same.
CONDITIONS = {
    "all": [
        {"path": "trigger.amount", "op": "gt", "value": 500},
        {"path": "workflow.name", "op": "eq", "value": "orders"},
        {"path": "execution.retry_count", "op": "eq", "value": 0},
        {"path": "execution.trigger_type", "op": "in", "value": ["manual", "event", "schedule"]},
        {"path": "execution.id", "op": "exists"},
    ]
}


def _orders(engine: Engine, sink: HttpSink, **fields: Any) -> str:
    return engine.workflow("orders", [sink.url("/hook")], conditions=CONDITIONS, **fields)


def _logs(engine: Engine, execution_id: str) -> list[tuple[str, str, int | None]]:
    with engine.db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(store.LOGS.c.level, store.LOGS.c.message, store.LOGS.c.step_index)
            .where(store.LOGS.c.execution_id == execution_id)
            .order_by(store.LOGS.c.id)
        ).all()
    return [tuple(row) for row in rows]


def _counters(engine: Engine, name: str) -> tuple[Any, ...]:
    with engine.db.engine.connect() as conn:
        return tuple(
            conn.execute(
                sa.select(W.execution_count, W.success_count, W.failure_count,
                          W.avg_execution_ms, W.last_execution_at).where(W.name == name)
            ).one()
        )  # fmt: skip


def test_a_manual_run_whose_conditions_are_false_is_stored_skipped_and_never_enqueued(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = _orders(engine, http_sink)
    ran = engine.trigger(name, {"amount": 900})
    assert engine.queue.huey.pending_count() == 1  # the one whose conditions hold
    assert engine.run(ran).status == "SUCCESS"
    before = _counters(engine, name)

    skipped = engine.trigger(name, {"amount": 100})

    assert engine.queue.huey.pending_count() == 1  # nothing enqueued for it
    row = execution_row(engine.db, skipped)
    assert (row.status, row.next_step, row.retry_count, row.error, row.result) == (
        "SKIPPED", 0, 0, None, None,
    )  # fmt: skip
    assert row.started_at == row.completed_at == row.created_at
    assert row.duration_ms == 0.0
    assert _logs(engine, skipped) == [("INFO", SKIPPED_LOG, None)]
    after = _counters(engine, name)
    # The executor's counter semantics: one more final run, no success or failure, the
    # average untouched (it averages SUCCESS and FAILED only), last_execution_at moved.
    assert after[:4] == (before[0] + 1, before[1], before[2], before[3])
    assert abs((after[4] - row.completed_at).total_seconds()) < 1e-3
    assert_counters_match_table(engine.db, name)
    assert engine.run(skipped).status == "NOOP"  # a stray message would find nothing to do
    assert [r.headers.get("idempotency-key") for r in http_sink.requests] == [f"{ran}:0"]


def test_ingress_decides_as_the_executor_would(engine: Engine, http_sink: HttpSink) -> None:
    """The same trigger data, decided once by the executor (a PENDING row inserted as before
    this change) and once at ingress: the same status, the same skip log line, the same
    counters."""
    name = _orders(engine, http_sink)
    workflow = find_workflow(engine.db, name)
    assert workflow is not None
    for data in ({"amount": 100}, {"amount": 900}, {}):
        row = _row(workflow.id, workflow.version, "manual", data, utcnow(), 0)
        assert insert_executions(engine.db, [row])  # undecided: the executor tests it
        by_executor = engine.run(row["id"]).status
        by_ingress = engine.trigger(name, data)
        decided_at_ingress = execution_row(engine.db, by_ingress).status
        if decided_at_ingress == "PENDING":
            decided_at_ingress = engine.run(by_ingress).status
        assert decided_at_ingress == by_executor
        if by_executor == "SKIPPED":
            assert SKIPPED_LOG in [m for _, m, _ in _logs(engine, row["id"])]
            assert _logs(engine, by_ingress) == [("INFO", SKIPPED_LOG, None)]
    assert_counters_match_table(engine.db, name)
    assert _counters(engine, name)[:3] == (6, 2, 0)


def test_an_event_starts_listeners_whose_conditions_hold_and_skips_the_others(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = _orders(engine, http_sink, triggers=[{"type": "event", "event": "order.placed"}])

    [skipped] = emit_event(engine.db, engine.queue, "order.placed", {"amount": 1}, actor="t")
    assert engine.queue.huey.pending_count() == 0
    [ran] = emit_event(engine.db, engine.queue, "order.placed", {"amount": 501}, actor="t")
    assert engine.queue.huey.pending_count() == 1

    assert execution_row(engine.db, skipped).status == "SKIPPED"
    assert _logs(engine, skipped) == [("INFO", SKIPPED_LOG, None)]
    assert engine.run(ran).status == "SUCCESS"
    assert_counters_match_table(engine.db, name)


def test_a_cron_fire_time_whose_conditions_are_false_is_skipped_once(
    engine: Engine, http_sink: HttpSink
) -> None:
    # A schedule's trigger data has no amount: the conditions are false for every fire.
    name = _orders(engine, http_sink, triggers=[{"type": "schedule", "cron": "* * * * *"}])
    triggers = table_of(WorkflowTrigger)
    now = utcnow()
    cron_tick(engine.db, engine.queue, engine.settings, now=now)  # first sight: counts from now
    with engine.db.engine.begin() as conn:
        conn.execute(sa.update(triggers).values(next_fire_at=now - timedelta(minutes=1)))

    [fired] = cron_tick(engine.db, engine.queue, engine.settings, now=now)
    assert cron_tick(engine.db, engine.queue, engine.settings, now=now) == []  # once

    assert engine.queue.huey.pending_count() == 0
    row = execution_row(engine.db, fired)
    assert (row.status, row.trigger_type) == ("SKIPPED", "schedule")
    assert _logs(engine, fired) == [("INFO", SKIPPED_LOG, None)]
    assert_counters_match_table(engine.db, name)


def test_a_workflow_without_conditions_is_enqueued_as_before(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("always", [http_sink.url("/hook")])
    execution_id = engine.trigger(name, {"amount": 1})
    assert execution_row(engine.db, execution_id).status == "PENDING"
    assert engine.queue.huey.pending_count() == 1
    assert engine.run(execution_id).status == "SUCCESS"
