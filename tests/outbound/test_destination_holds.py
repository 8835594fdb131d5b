"""Destinations with real consumers (SQLite + SqliteHuey, PostgreSQL + Redis) and a sink.

- ``hold``: no request reaches the host, no run fails or spends a retry (the runs wait
  with ``waiting = 'destination'``); ``release`` delivers them all; the board lists the
  host with its figures.
- the breaker (on in the config): a sink answering 503 opens it after N failures, steps
  wait, one probe after the cool-down, a healthy sink closes it and the runs deliver.
- a 429's Retry-After is counted and the last one shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.execution import claims as store
from engine.security import outbound
from engine.services.destinations import destination_board, hold, release, release_preview
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow
from tests import http_sink as sink_fixtures
from tests.consumers import Deployment, _toml, deployment, running_consumer, wait_until
from tests.execution_support import workflow_document
from tests.http_sink import HttpSink, Reply

pytestmark = pytest.mark.slow
http_sink = sink_fixtures.http_sink
E = store.E
RUNS = 6


@pytest.fixture(params=["sqlite", "postgres"])
def deployed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    with deployment(request.param, tmp_path) as deployed:
        yield deployed


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    outbound.close_clients()


def _with_sections(deployed: Deployment, **sections: dict[str, object]) -> None:
    """Add config sections the consumers read (the producer side does not need them)."""
    deployed.sections.update(sections)
    deployed.config_path.write_text(_toml(deployed.sections), encoding="utf-8")


def _define(deployed: Deployment, sink: HttpSink, **fields: object) -> str:
    fields = {"max_retries": 3, "retry_delay": 1, **fields}
    document = workflow_document("outbound", [sink.url("/hook")], **fields)
    save_document(deployed.db, document, actor="tester")
    return "outbound"


def _rows(deployed: Deployment, ids: list[str]) -> list[sa.Row[tuple[object, ...]]]:
    with deployed.db.engine.connect() as conn:
        query = sa.select(E.id, E.status, E.retry_count, E.waiting, E.waiting_for)
        return list(conn.execute(query.where(E.id.in_(ids))))


def _statuses(deployed: Deployment, ids: list[str]) -> list[str]:
    return sorted(str(row.status) for row in _rows(deployed, ids))


def test_a_held_destination_gets_nothing_and_its_runs_deliver_on_release(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    name = _define(deployed, http_sink)
    destination = f"127.0.0.1:{http_sink.port}"
    with running_consumer(deployed, tmp_path / "consumer.log") as consumer:
        # A run before the hold: calls and latency for the board.
        first = run_workflow(deployed.db, deployed.queue, name, actor="tester")
        assert wait_until(lambda: _statuses(deployed, first) == ["SUCCESS"], 30), (
            consumer.log_tail()
        )
        held = hold(deployed.db, destination, actor="tester")
        assert held.destination == destination and held.held_until is None
        before = len(http_sink.requests)
        ids = run_workflow(deployed.db, deployed.queue, name, actor="tester", count=RUNS)

        def all_waiting() -> bool:
            rows = _rows(deployed, ids)
            return all(r.status == "PENDING" and r.waiting == "destination" for r in rows)

        assert wait_until(all_waiting, 30), (_rows(deployed, ids), consumer.log_tail())
        rows = _rows(deployed, ids)
        assert {r.waiting_for for r in rows} == {destination}
        assert {r.retry_count for r in rows} == {0}  # no retry spent
        # A sweep pass or two later, still nothing reached the sink and nothing failed.
        wait_until(lambda: False, 1.5)
        assert len(http_sink.requests) == before
        assert all_waiting()
        preview = release_preview(deployed.db, destination)
        assert preview.held and preview.runs == RUNS and preview.workflows == {name: RUNS}
        board = {row.destination: row for row in destination_board(deployed.db, "5m")}
        assert board[destination].held and board[destination].waiting == RUNS
        assert board[destination].held_by == "tester"

        result = release(deployed.db, deployed.queue, destination, actor="tester")
        assert result.was_held and result.released == RUNS
        assert wait_until(lambda: _statuses(deployed, ids) == ["SUCCESS"] * RUNS, 30), (
            consumer.log_tail()
        )
        assert len(http_sink.requests) == before + RUNS
        assert {r.retry_count for r in _rows(deployed, ids)} == {0}
        assert {r.waiting for r in _rows(deployed, ids)} == {None}

        def counted() -> bool:
            rows = {r.destination: r for r in destination_board(deployed.db, "5m")}
            return destination in rows and rows[destination].calls == RUNS + 1

        assert wait_until(counted, 15), destination_board(deployed.db, "5m")
    row = next(r for r in destination_board(deployed.db, "1h") if r.destination == destination)
    assert row.errors == 0 and row.error_rate == 0.0 and not row.held and row.waiting == 0
    assert row.p50_ms is not None and row.p95_ms is not None and row.p99_ms is not None
    assert 0 < row.p50_ms <= row.p95_ms <= row.p99_ms
    assert row.circuit == "closed"


def test_a_hold_reaches_the_next_step_of_a_run_already_under_way(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    """Step 0 is at the sink when the hold is placed: step 1 (same host) waits, without a
    retry spent, and after the release runs — step 0 is not sent again."""
    document = workflow_document("two-steps", [http_sink.url("/first"), http_sink.url("/second")],
                                 max_retries=3, retry_delay=1)  # fmt: skip
    save_document(deployed.db, document, actor="tester")
    destination = f"127.0.0.1:{http_sink.port}"
    http_sink.reply(Reply(200, b"slow", delay=2.0))
    with running_consumer(deployed, tmp_path / "consumer.log") as consumer:
        [run] = run_workflow(deployed.db, deployed.queue, "two-steps", actor="tester")
        assert wait_until(lambda: len(http_sink.requests) == 1, 30), consumer.log_tail()
        hold(deployed.db, destination, actor="tester")  # while step 0 is at the sink

        def waiting() -> bool:
            [row] = _rows(deployed, [run])
            return row.status == "PENDING" and row.waiting == "destination"

        assert wait_until(waiting, 30), (_rows(deployed, [run]), consumer.log_tail())
        wait_until(lambda: False, 1.0)
        assert [r.path for r in http_sink.requests] == ["/first"]
        with deployed.db.engine.connect() as conn:
            next_step = conn.execute(sa.select(E.next_step).where(E.id == run)).scalar_one()
        assert next_step == 1 and _rows(deployed, [run])[0].retry_count == 0

        release(deployed.db, deployed.queue, destination, actor="tester")
        assert wait_until(lambda: _statuses(deployed, [run]) == ["SUCCESS"], 30), (
            consumer.log_tail()
        )
    assert [r.path for r in http_sink.requests] == ["/first", "/second"]
    assert _rows(deployed, [run])[0].retry_count == 0


def test_a_hold_for_a_duration_ends_by_itself(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    name = _define(deployed, http_sink)
    destination = f"127.0.0.1:{http_sink.port}"
    with running_consumer(deployed, tmp_path / "consumer.log") as consumer:
        hold(deployed.db, destination, actor="tester", for_=timedelta(seconds=3))
        ids = run_workflow(deployed.db, deployed.queue, name, actor="tester", count=3)
        assert wait_until(lambda: _statuses(deployed, ids) == ["SUCCESS"] * 3, 40), (
            _rows(deployed, ids),
            consumer.log_tail(),
        )
    assert {r.retry_count for r in _rows(deployed, ids)} == {0}
    board = {r.destination: r for r in destination_board(deployed.db, "5m")}
    assert destination not in board or not board[destination].held


def test_the_breaker_opens_waits_probes_once_and_closes(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    threshold, cooldown = 3, 2.0
    _with_sections(deployed, outbound={"breaker_enabled": True, "breaker_threshold": threshold,
                                       "breaker_cooldown": cooldown})  # fmt: skip
    name = _define(deployed, http_sink, max_retries=10)
    destination = f"127.0.0.1:{http_sink.port}"
    http_sink.default = Reply(503, b"down")
    with running_consumer(deployed, tmp_path / "consumer.log") as consumer:
        ids = run_workflow(deployed.db, deployed.queue, name, actor="tester", count=RUNS)

        def circuit() -> str:
            rows = {r.destination: r for r in destination_board(deployed.db, "5m")}
            return rows[destination].circuit if destination in rows else "closed"

        assert wait_until(lambda: circuit() != "closed", 30), consumer.log_tail()
        assert wait_until(
            lambda: any(r.waiting == "destination" for r in _rows(deployed, ids)), 30
        ), (_rows(deployed, ids), consumer.log_tail())
        # While it is open nothing is sent but one probe per cool-down (each fails and
        # opens it again): a few requests in 2.5 cool-downs, where the runs' own retries
        # (1 s apart, 10 each) would have sent dozens.
        opened_with = len(http_sink.requests)
        wait_until(lambda: False, cooldown * 2.5)
        probes = len(http_sink.requests) - opened_with
        assert 1 <= probes <= 3 + 1, (probes, consumer.log_tail())
        assert not any(r.status == "FAILED" for r in _rows(deployed, ids))
        http_sink.default = Reply(200, b"ok")
        answered_503 = len(http_sink.requests)  # at most: one more may have got the 200
        assert wait_until(lambda: _statuses(deployed, ids) == ["SUCCESS"] * RUNS, 60), (
            _rows(deployed, ids),
            consumer.log_tail(),
        )
        assert circuit() == "closed"
    # Retries were spent only by calls that failed (before it opened, in flight when it
    # opened, and the failed probes), never while waiting: a run waiting on an open
    # circuit sends nothing and spends nothing. (Counting the calls before it opened as
    # one per run assumed no run's 1 s retry went out before the third failure: a loaded
    # machine sent two from one run.)
    assert sum(r.retry_count for r in _rows(deployed, ids)) <= answered_503


def test_a_429_and_its_retry_after_are_counted(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    name = _define(deployed, http_sink, max_retries=0)
    destination = f"127.0.0.1:{http_sink.port}"
    http_sink.reply(Reply(429, b"slow down", {"Retry-After": "7"}))
    with running_consumer(deployed, tmp_path / "consumer.log") as consumer:
        ids = run_workflow(deployed.db, deployed.queue, name, actor="tester")
        assert wait_until(lambda: _statuses(deployed, ids) == ["FAILED"], 30), consumer.log_tail()

        def shown() -> bool:
            rows = {r.destination: r for r in destination_board(deployed.db, "5m")}
            return destination in rows and rows[destination].rate_limited == 1

        assert wait_until(shown, 15), destination_board(deployed.db, "5m")
    row = next(r for r in destination_board(deployed.db, "5m") if r.destination == destination)
    assert row.calls == 1 and row.errors == 1 and row.error_rate == 1.0
    assert row.last_retry_after == 7.0 and row.last_retry_after_at is not None
