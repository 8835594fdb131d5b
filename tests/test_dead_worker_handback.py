"""Real consumers (PostgreSQL + Redis): a killed worker's runs come back within seconds,
and a live worker's runs never do, however long its step or its silence.

Before, a kill -9 left its runs RUNNING until their lease (timeout + 30 s) expired, and
with the default ``workflow.max_concurrent_executions`` (10) they stalled every other
consumer for that long.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.config import CONFIG_ENV
from engine.execution import claims as store
from engine.models import utcnow
from engine.queue.sweeper import WORKER_LOST, sweep
from engine.security import outbound
from engine.services.workers import WorkerStatus, list_workers
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow
from tests import http_sink as sink_fixtures
from tests.consumers import (
    WORKFLOW_TIMEOUT,
    ConsumerProcess,
    Deployment,
    deployment,
    running_consumer,
    wait_until,
)
from tests.execution_support import execution_row, keys_seen, workflow_document
from tests.http_sink import HttpSink, Reply

pytestmark = pytest.mark.slow
http_sink = sink_fixtures.http_sink
E = store.E
BEAT = 0.5  # queue.heartbeat_interval: a worker silent for 1.5 s may be dead
LEASE = WORKFLOW_TIMEOUT + 30


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Deployment]:
    """PostgreSQL + Redis, the default cap of 10 RUNNING, fast heartbeats."""
    with deployment("postgres", tmp_path) as deployed:
        deployed.variant(deployed.config_path, heartbeat_interval=BEAT)
        yield deployed


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    outbound.close_clients()


def define(deployed: Deployment, sink: HttpSink, name: str = "handback") -> str:
    document = workflow_document(name, [sink.url("/hook")], timeout=WORKFLOW_TIMEOUT,
                                 max_retries=3, retry_delay=1)  # fmt: skip
    save_document(deployed.db, document, actor="tester")
    return name


def workers(deployed: Deployment) -> list[WorkerStatus]:
    return list_workers(deployed.db, now=utcnow(), interval=BEAT)


def worker_of(deployed: Deployment, pid: int) -> str | None:
    """The heartbeat id of the worker process ``pid``, once it has beaten."""
    return next((w.worker_id for w in workers(deployed) if w.pid == pid), None)


def running(deployed: Deployment, worker_id: str | None = None) -> list[str]:
    """Ids RUNNING now (held by ``worker_id`` when given)."""
    query = sa.select(E.id).where(E.status == "RUNNING")
    if worker_id is not None:
        query = query.where(E.worker_id == worker_id)
    with deployed.db.engine.connect() as conn:
        return list(conn.execute(query).scalars())


def finished(deployed: Deployment, ids: list[str]) -> bool:
    with deployed.db.engine.connect() as conn:
        statuses = conn.execute(sa.select(E.status).where(E.id.in_(ids))).scalars().all()
    return sum(s == "SUCCESS" for s in statuses) == len(ids)


def hand_backs(deployed: Deployment) -> Counter[str]:
    logs = store.LOGS.c
    with deployed.db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(logs.execution_id).where(logs.message.like(f"{WORKER_LOST}%"))
        ).scalars()
        return Counter(rows)


@pytest.mark.timeout(120)
def test_a_killed_consumers_runs_are_finished_by_the_other_within_seconds(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    # Steps in flight when the kill lands: long enough that a busy machine, slow between
    # seeing the victim hold runs and killing it, cannot let them all finish first.
    http_sink.default = Reply(delay=1.5)
    name = define(deployed, http_sink)
    victim = ConsumerProcess(deployed, tmp_path / "victim.log", workers=4)
    try:
        assert wait_until(lambda: len(workers(deployed)) == 1, 60), victim.log_tail()
        victim_id = worker_of(deployed, victim.pid)
        assert victim_id is not None
        # The victim alone picks the runs up, so it holds some when it is killed: with the
        # survivor already running, a busy machine once let the survivor claim them all.
        ids = run_workflow(deployed.db, deployed.queue, name, count=80, actor="tester")
        assert wait_until(lambda: len(running(deployed, victim_id)) >= 3, 30), victim.log_tail()
        with running_consumer(deployed, tmp_path / "survivor.log", workers=4) as survivor:
            assert wait_until(lambda: len(workers(deployed)) == 2, 60), survivor.log_tail()
            victim.kill()
            killed_at = time.monotonic()
            time.sleep(0.2)  # a claim the victim already sent may still commit
            # Its runs still RUNNING, and those the survivor's sweeper already took back (in
            # one pid namespace a gone pid is dead at once: that can beat this read).
            orphans = sorted(set(running(deployed, victim_id)) | set(hand_backs(deployed)))
            with deployed.db.engine.connect() as conn:
                leases = dict(conn.execute(
                    sa.select(E.id, E.lease_until).where(E.id.in_(orphans))).all())  # fmt: skip

            assert wait_until(lambda: finished(deployed, orphans), 60, 0.1), survivor.log_tail()
            took = time.monotonic() - killed_at
            # A message the victim had taken but not yet claimed died with it: that row stayed
            # PENDING and is the sweeper's (30 s + sweep_interval), not a hand-back.
            assert wait_until(lambda: finished(deployed, ids), 60, 0.1), survivor.log_tail()
    finally:
        victim.kill()

    assert orphans, "the kill landed while the victim held nothing"
    # The orphans held the cap: nothing more ran until they came back, a lease (35 s) later
    # before. Now the sweeper hands them back once the victim's heartbeat is 1.5 s silent.
    assert took < 15, f"the {len(orphans)} orphans done {took:.1f} s after the kill"
    taken_back = hand_backs(deployed)
    assert set(orphans) <= set(taken_back)
    for execution_id in orphans:
        row = execution_row(deployed.db, execution_id)
        lease = leases.get(execution_id)  # None: taken back before the read
        assert row.retry_count >= 1 and (lease is None or row.completed_at < lease)
    # At least once: only a step in flight at the kill went out again, once.
    repeated = {k: n - 1 for k, n in Counter(keys_seen(http_sink)).items() if n > 1}
    assert all(key.rsplit(":", 1)[0] in orphans for key in repeated), repeated
    assert sum(repeated.values()) <= len(orphans)


@pytest.mark.timeout(90)
def test_a_live_workers_run_is_never_taken_back_however_slow_or_silent(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    http_sink.default = Reply(delay=4.0)  # far longer than the 1.5 s a heartbeat may lag
    name = define(deployed, http_sink, "slow")
    with running_consumer(deployed, tmp_path / "slow.log", workers=1) as consumer:
        assert wait_until(lambda: worker_of(deployed, consumer.pid) is not None, 60)
        [execution_id] = run_workflow(deployed.db, deployed.queue, name, actor="tester")
        assert wait_until(lambda: len(http_sink.requests) == 1, 30), consumer.log_tail()
        sweeps = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # beating while it waits on its step
            sweeps += sweep(deployed.db, heartbeat_interval=BEAT).retried == 0
            time.sleep(0.1)
        os.kill(consumer.pid, signal.SIGSTOP)  # frozen: its heartbeat falls silent too
        try:
            assert wait_until(lambda: not workers(deployed)[0].alive, 5)
            for _ in range(5):  # silent, but its process is there: it may still answer
                sweeps += sweep(deployed.db, heartbeat_interval=BEAT).retried == 0
                time.sleep(0.1)
        finally:
            os.kill(consumer.pid, signal.SIGCONT)
        assert wait_until(lambda: execution_row(deployed.db, execution_id).status == "SUCCESS",
                          30), consumer.log_tail()  # fmt: skip

    assert sweeps >= 10
    assert keys_seen(http_sink) == [f"{execution_id}:0"]
    assert execution_row(deployed.db, execution_id).retry_count == 0
    assert not hand_backs(deployed)


@pytest.mark.timeout(90)
def test_with_worker_processes_claims_name_the_child_and_a_killed_child_is_handed_back(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    # huey_consumer -k process: the Queue is built in the parent, the heartbeats and claims
    # happen in the forked children. A claim must name the child that made it.
    http_sink.default = Reply(delay=3.0)
    name = define(deployed, http_sink)
    command = [sys.executable, "-m", "huey.bin.huey_consumer", "engine.queue.huey",
               "-w", "2", "-k", "process"]  # fmt: skip
    env = {**os.environ, CONFIG_ENV: str(deployed.config_path)}
    with (tmp_path / "process.log").open("ab") as log:
        parent = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: len(workers(deployed)) == 2, 60)
        children = {w.worker_id: w.pid for w in workers(deployed)}
        assert parent.pid not in children.values()
        [execution_id] = run_workflow(deployed.db, deployed.queue, name, actor="tester")
        assert wait_until(lambda: len(http_sink.requests) == 1, 30)
        holder = execution_row(deployed.db, execution_id).worker_id
        assert holder in children, (holder, children)
        assert holder.startswith(f"{socket.gethostname()}:{children[holder]}:")

        http_sink.default = Reply(delay=0.01)
        os.kill(children[holder], signal.SIGKILL)  # the parent reaps (and replaces) it
        killed_at = time.monotonic()
        done = lambda: execution_row(deployed.db, execution_id).status == "SUCCESS"  # noqa: E731
        assert wait_until(done, 30, 0.1)
        assert time.monotonic() - killed_at < LEASE - 10
    finally:
        parent.send_signal(signal.SIGTERM)
        try:
            parent.wait(15)
        except subprocess.TimeoutExpired:
            parent.kill()
            parent.wait(10)
    assert hand_backs(deployed) == Counter({execution_id: 1})
    assert keys_seen(http_sink) == [f"{execution_id}:0"] * 2  # the one in flight, again
