"""Durability with real consumer processes: a run is never lost, never stuck RUNNING, and
never repeats a finished step beyond what a killed worker had in flight.

Each test runs on SQLite + SqliteHuey (``wfconsole worker``) and on PostgreSQL + Redis
(``huey_consumer engine.queue.huey``), except the embedded-worker latency test, which is
about the local default only.
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.execution import claims as store
from engine.execution.decisions import LEASE_GRACE
from engine.models import FINAL_STATUSES, utcnow
from engine.queue.heartbeat import ALIVE_INTERVALS
from engine.security import outbound
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow
from engine.workers.runtime import EmbeddedWorker, Queue
from tests import http_sink as sink_fixtures
from tests.consumers import (
    SWEEP_INTERVAL,
    WORKFLOW_TIMEOUT,
    ConsumerProcess,
    Deployment,
    deployment,
    running_consumer,
    wait_until,
)
from tests.execution_support import (
    assert_counters_match_table,
    execution_row,
    keys_seen,
    make_due,
    workflow_document,
)
from tests.http_sink import HttpSink, Reply

http_sink = sink_fixtures.http_sink
E = store.E


@pytest.fixture(params=["sqlite", "postgres"])
def deployed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    with deployment(request.param, tmp_path) as deployed:
        yield deployed


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    outbound.close_clients()


def statuses(deployed: Deployment, ids: list[str]) -> Counter[str]:
    with deployed.db.engine.connect() as conn:
        rows = conn.execute(sa.select(E.status).where(E.id.in_(ids))).scalars().all()
    return Counter(rows)


def all_final(deployed: Deployment, ids: list[str]) -> bool:
    counts = statuses(deployed, ids)
    return sum(counts[s] for s in FINAL_STATUSES) == len(ids)


def handed_back_at(deployed: Deployment, ids: list[str]) -> dict[str, datetime]:
    """When the sweeper took each execution back from a lost worker (its log row)."""
    logs = store.LOGS.c
    with deployed.db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(logs.execution_id, sa.func.min(logs.timestamp))
            .where(logs.execution_id.in_(ids), logs.message.like("worker lost%"))
            .group_by(logs.execution_id)
        ).all()
    return {execution_id: at for execution_id, at in rows}


def define(deployed: Deployment, name: str, sink: HttpSink, **fields: object) -> str:
    document = workflow_document(name, [sink.url("/hook")], timeout=WORKFLOW_TIMEOUT, **fields)
    save_document(deployed.db, document, actor="tester")
    return name


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_killed_consumer_loses_no_execution_and_repeats_at_most_its_in_flight_runs(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    http_sink.default = Reply(delay=0.02)
    # Quick heartbeats: the death is certain 1.5 s after the last beat, not 15 s.
    settings = deployed.variant(deployed.config_path, heartbeat_interval=0.5)
    name = define(deployed, "burst", http_sink, max_retries=3, retry_delay=1)
    doomed = ConsumerProcess(deployed, tmp_path / "doomed.log", workers=4)
    try:
        ids = run_workflow(deployed.db, deployed.queue, name, count=500, actor="tester")
        assert wait_until(lambda: len(http_sink.requests) >= 50, 60), doomed.log_tail()
        # Hold the next requests open, so every worker of the doomed consumer is mid-run.
        seen = len(http_sink.requests)
        http_sink.default = Reply(delay=3.0)
        assert wait_until(lambda: len(http_sink.requests) >= seen + doomed.workers, 10)
        doomed.kill()
        killed_at = utcnow()
        # A commit the dead process had already sent may still land: let it, first.
        time.sleep(0.2)
    finally:
        doomed.kill()
        http_sink.default = Reply(delay=0.02)
    with deployed.db.engine.connect() as conn:
        orphans = conn.execute(
            sa.select(E.id, E.lease_until).where(E.id.in_(ids), E.status == "RUNNING")
        ).all()
    # A consumer holds at most workers * batch_size executions. (The RUNNING cap bounds the
    # steps running; claims racing past it are given back before a step, but a kill can
    # land in between.)
    assert 1 <= len(orphans) <= doomed.workers * deployed.settings.queue.batch_size
    assert statuses(deployed, ids)["SUCCESS"] < len(ids)

    with running_consumer(deployed, tmp_path / "replacement.log", workers=4) as replacement:
        bound = WORKFLOW_TIMEOUT + LEASE_GRACE.total_seconds() + SWEEP_INTERVAL + 20
        assert wait_until(lambda: all_final(deployed, ids), bound), (
            f"{statuses(deployed, ids)}\n{replacement.log_tail()}"
        )

    assert statuses(deployed, ids) == Counter({"SUCCESS": len(ids)})
    # Each orphan left RUNNING at the first sweep after its worker was dead for sure (its
    # heartbeat silent for 3 intervals, its pid gone), or after its lease, if sooner.
    taken_back = handed_back_at(deployed, [row.id for row in orphans])
    assert set(taken_back) == {row.id for row in orphans}
    # Its last beat was at most one interval before the kill.
    beat = settings.queue.heartbeat_interval
    silent = timedelta(seconds=(ALIVE_INTERVALS - 1) * beat)
    for row in orphans:
        late = (taken_back[row.id] - row.lease_until).total_seconds()
        assert late <= SWEEP_INTERVAL + 2.0, f"taken back {late:.1f} s after its lease"
        early = (taken_back[row.id] - killed_at - silent).total_seconds()
        assert early >= -0.5, f"taken back {-early:.1f} s before its heartbeat fell silent"
    keys = Counter(keys_seen(http_sink))
    assert {f"{execution_id}:0" for execution_id in ids} <= set(keys)
    repeats = sum(count - 1 for count in keys.values())
    assert repeats <= len(orphans)  # only a step in flight at the kill is sent again
    assert_counters_match_table(deployed.db, name)


def test_an_execution_enqueued_twice_runs_once(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    name = define(deployed, "twice", http_sink)
    [execution_id] = run_workflow(deployed.db, deployed.queue, name, actor="tester")
    deployed.queue.dispatch(execution_id)
    assert deployed.queue.depth()["queued"] == 2

    with running_consumer(deployed, tmp_path / "consumer.log") as consumer:
        assert wait_until(lambda: all_final(deployed, [execution_id]), 30), consumer.log_tail()
        assert wait_until(lambda: deployed.queue.depth()["queued"] == 0, 10)
        time.sleep(0.5)  # the duplicate's claim, if any, has long been refused

    assert execution_row(deployed.db, execution_id).status == "SUCCESS"
    assert keys_seen(http_sink) == [f"{execution_id}:0"]


def test_a_failed_attempt_is_retried_by_the_consumer_after_its_delay(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    name = define(deployed, "retried", http_sink, max_retries=3, retry_delay=1)
    http_sink.reply(Reply(503))
    [execution_id] = run_workflow(deployed.db, deployed.queue, name, actor="tester")

    with running_consumer(deployed, tmp_path / "consumer.log") as consumer:
        assert wait_until(lambda: all_final(deployed, [execution_id]), 30), consumer.log_tail()

    row = execution_row(deployed.db, execution_id)
    assert (row.status, row.retry_count) == ("SUCCESS", 1)
    assert keys_seen(http_sink) == [f"{execution_id}:0"] * 2
    first, second = (request.received_at for request in http_sink.requests)
    assert second - first >= 0.9  # retry_delay 1 s, -10 % jitter


def _lock_queue_file(path: Path) -> sqlite3.Connection:
    """Hold the SQLite queue's write lock, as another process stuck mid-write would."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_an_execution_whose_enqueue_failed_is_enqueued_by_the_sweeper(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    name = define(deployed, "enqueue-failed", http_sink)
    if deployed.kind == "sqlite":
        # The queue file is locked past SqliteHuey's busy timeout: the enqueue raises.
        holder = _lock_queue_file(deployed.settings.queue_path)
        try:
            [execution_id] = run_workflow(deployed.db, deployed.queue, name, actor="tester")
        finally:
            holder.rollback()
            holder.close()
    else:
        # Redis is down at trigger time: the producer's queue points at a dead port.
        down = deployed.variant(tmp_path / "redis-down.toml", redis_url="redis://127.0.0.1:1/0")
        producer = Queue(down, db=deployed.db)
        [execution_id] = run_workflow(deployed.db, producer, name, actor="tester")
    assert execution_row(deployed.db, execution_id).status == "PENDING"
    assert deployed.queue.depth()["queued"] == 0
    # The sweeper re-enqueues PENDING rows due for over 30 s; skip that wait.
    make_due(deployed.db, execution_id, ago=31)

    with running_consumer(deployed, tmp_path / "consumer.log") as consumer:
        assert wait_until(lambda: all_final(deployed, [execution_id]), 30), consumer.log_tail()

    assert execution_row(deployed.db, execution_id).status == "SUCCESS"
    assert keys_seen(http_sink) == [f"{execution_id}:0"]


@pytest.mark.slow
def test_embedded_worker_picks_up_runs_at_once_even_after_idling(
    http_sink: HttpSink, tmp_path: Path
) -> None:
    with deployment("sqlite", tmp_path) as deployed:
        name = define(deployed, "latency", http_sink)
        worker = EmbeddedWorker(deployed.queue, workers=2)
        worker.start()
        try:
            ids = []
            # 101 samples, so the p99 is not simply the worst one.
            for index in range(101):
                # A long idle spell first (Huey's SQLite polling would have backed off to
                # seconds by then), then runs spaced out by 50-100 ms.
                time.sleep(3.0 if index == 0 else 0.05 + (index % 3) * 0.025)
                ids.extend(run_workflow(deployed.db, deployed.queue, name, actor="tester"))
            assert wait_until(lambda: all_final(deployed, ids), 30)
        finally:
            worker.stop()
        with deployed.db.engine.connect() as conn:
            rows = conn.execute(sa.select(E.created_at, E.started_at).where(E.id.in_(ids))).all()
    latencies = sorted((r.started_at - r.created_at).total_seconds() * 1000 for r in rows)
    p99 = latencies[math.ceil(0.99 * len(latencies)) - 1]
    # The 100 ms p99 figure is measured by bench/throughput.py on a quiet machine; this
    # test proves the behaviour (no back-off to Huey's 10 s polling) with a bound that a
    # loaded CI machine still meets.
    assert p99 < 1000, (
        f"enqueue→start p99 {p99:.1f} ms (load average {os.getloadavg()[0]:.1f}); "
        f"slowest: {[round(x) for x in latencies[-5:]]}"
    )


def test_a_graceful_stop_lets_the_running_batches_finish(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    # Worker threads hand their batch to a batch thread right after the claim; a graceful
    # stop (SIGINT) still waits for those batches, as it waited for the tasks themselves.
    http_sink.default = Reply(delay=1.5)
    name = define(deployed, "graceful", http_sink)
    consumer = ConsumerProcess(deployed, tmp_path / "consumer.log")
    try:
        ids = run_workflow(deployed.db, deployed.queue, name, count=3, actor="tester")
        assert wait_until(lambda: len(http_sink.requests) == 3, 30), consumer.log_tail()
        consumer.process.send_signal(signal.SIGINT)
        consumer.process.wait(20)
    finally:
        consumer.stop()
    assert statuses(deployed, ids) == Counter({"SUCCESS": 3})
    assert sorted(keys_seen(http_sink)) == sorted(f"{i}:0" for i in ids)
