"""Every way a run ends FAILED stores the signature of its error with it, on SQLite and on
PostgreSQL's fast path (a round of finishes only, and a round with a step run again);
a run that ends otherwise stores none."""

from __future__ import annotations

from engine.execution import claims as store
from engine.execution.error_signature import normalise_error
from engine.queue.sweeper import WORKER_LOST, sweep
from engine.services.control import retry_executions
from tests.execution_support import Engine, claim_now, execution_row, make_due
from tests.http_sink import HttpSink, Reply


def test_a_failed_run_stores_the_signature_of_its_error(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("gone", [http_sink.url("/missing/17?token=abc")], max_retries=3)
    http_sink.reply(Reply(404, b"no such hook"))
    execution_id = engine.trigger(name)

    assert engine.run(execution_id).status == "FAILED"

    row = execution_row(engine.db, execution_id)
    assert row.status == "FAILED" and "HTTP 404" in row.error
    assert row.error_signature == normalise_error(row.error)
    assert "17" not in row.error_signature and "token" not in row.error_signature


def test_a_run_failing_on_its_retry_stores_the_signature_of_the_last_error(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("flaky-then-gone", [http_sink.url("/hook")], max_retries=1)
    http_sink.reply(Reply(503), Reply(404))
    execution_id = engine.trigger(name)
    assert engine.run(execution_id).status == "RETRY"
    first = execution_row(engine.db, execution_id)
    assert (first.status, first.error_signature) == ("PENDING", None)
    make_due(engine.db, execution_id)

    assert engine.run(execution_id).status == "FAILED"

    row = execution_row(engine.db, execution_id)
    assert "HTTP 404" in row.error
    assert row.error_signature == normalise_error(row.error)


def test_a_run_that_succeeds_after_failing_keeps_no_signature(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("fixed", [http_sink.url("/hook")], max_retries=0)
    http_sink.reply(Reply(404), Reply(200))
    execution_id = engine.trigger(name)
    assert engine.run(execution_id).status == "FAILED"
    assert execution_row(engine.db, execution_id).error_signature is not None
    retry_executions(engine.db, engine.queue, [execution_id], actor="tester")

    assert engine.run(execution_id).status == "SUCCESS"

    assert execution_row(engine.db, execution_id).error_signature is None


def test_a_workflow_timeout_stores_its_signature(engine: Engine, http_sink: HttpSink) -> None:
    name = engine.workflow("hung", [http_sink.url("/slow")], timeout=1, max_retries=0)
    http_sink.reply(Reply(delay=10))
    execution_id = engine.trigger(name)

    assert engine.run(execution_id).status == "FAILED"

    row = execution_row(engine.db, execution_id)
    assert row.error and row.error_signature == normalise_error(row.error)


def test_the_sweeper_signs_a_lost_run_it_fails(engine: Engine, http_sink: HttpSink) -> None:
    name = engine.workflow("lost-for-good", [http_sink.url("/hook")], max_retries=0)
    execution_id = engine.trigger(name)
    assert isinstance(claim_now(engine.db, execution_id, lease=-1), store.Claimed)

    assert sweep(engine.db).failed == 1

    row = execution_row(engine.db, execution_id)
    assert (row.status, row.error, row.error_signature) == ("FAILED", WORKER_LOST, WORKER_LOST)
