"""Redis and PostgreSQL crash and come back while consumers are running.

Private servers on free ports (tests/chaos/servers.py), never the shared ones. Runs are
created before, during and after each outage; consumers must ride through it (reconnect,
no exit), the sweeper re-enqueues whatever the outage lost, and afterwards the usual
checks hold (tests/chaos/harness.py ``assert_recovered``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from engine.db import Database
from engine.execution.claims import W
from engine.execution.decisions import LEASE_GRACE
from engine.security import outbound
from engine.triggers.new_executions import run_workflow
from tests import http_sink as sink_fixtures
from tests.chaos.harness import (
    all_final,
    assert_recovered,
    define_hook_workflow,
    postgres_deployment,
    scaled,
    statuses,
    swept_up,
)
from tests.chaos.servers import PrivatePostgres, private_postgres, private_redis
from tests.consumers import (
    SWEEP_INTERVAL,
    WORKFLOW_TIMEOUT,
    ConsumerProcess,
    Deployment,
    redis_test_url,
    wait_until,
)
from tests.http_sink import HttpSink, Reply
from tests.pg import fresh_postgres_url

pytestmark = [pytest.mark.chaos, pytest.mark.slow]
http_sink = sink_fixtures.http_sink

RUNS = scaled(600, 6000)
OUTAGES = scaled(1, 5)
DOWN_FOR = 2.0
WORKERS = 4


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    outbound.close_clients()


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PrivatePostgres]:
    """One private cluster for the module (initdb takes a few seconds)."""
    with private_postgres() as server:
        yield server


class Producer(threading.Thread):
    """Creates runs in small batches at a steady pace; remembers which were accepted."""

    def __init__(self, deployed: Deployment, workflow: str, total: int, seconds: float) -> None:
        super().__init__(name="chaos-producer", daemon=True)
        self.deployed, self.workflow, self.total = deployed, workflow, total
        self.chunk = 20
        self.pause = seconds / (total / self.chunk)
        self.accepted: list[str] = []
        self.refused = 0
        self.crash: BaseException | None = None

    def run(self) -> None:
        try:
            self._produce()
        except BaseException as exc:  # surfaced by the test, not lost in a thread
            self.crash = exc

    def _produce(self) -> None:
        while len(self.accepted) + self.refused * self.chunk < self.total:
            try:
                deployed = self.deployed
                self.accepted += run_workflow(
                    deployed.db, deployed.queue, self.workflow, count=self.chunk, actor="chaos"
                )
            except (sa.exc.DBAPIError, psycopg.Error):
                self.refused += 1  # the database is down: the trigger failed, nothing accepted
            time.sleep(self.pause)


def finished(db: Database, workflow: str) -> int:
    """How many runs of the workflow ended SUCCESS so far."""
    with db.engine.connect() as conn:
        return int(conn.execute(sa.select(W.success_count).where(W.name == workflow)).scalar_one())


def ride_through(
    deployed: Deployment,
    sink: HttpSink,
    tmp_path: Path,
    restart: Callable[[], None],
    recovery: float,
) -> list[str]:
    """Two consumers and a producer; ``restart()`` the server ``OUTAGES`` times mid-run."""
    name = define_hook_workflow(deployed.db, "outage", sink)
    consumers = [
        ConsumerProcess(deployed, tmp_path / f"consumer-{n}.log", workers=WORKERS) for n in (0, 1)
    ]
    try:
        producer = Producer(deployed, name, RUNS, seconds=2.0 + 4.0 * OUTAGES)
        producer.start()
        for outage in range(OUTAGES):
            # Each outage hits consumers in full swing: some runs done, more arriving.
            done_before = (outage + 1) * RUNS // (OUTAGES + 2)

            def in_full_swing(n: int = done_before) -> bool:
                return finished(deployed.db, name) >= n

            assert wait_until(in_full_swing, 60), consumers[0].log_tail()
            restart()
            deployed.db.dispose()  # the test's own pooled connections died with the server
            time.sleep(2.0)
        producer.join(120)
        assert producer.crash is None, f"a trigger failed unexpectedly: {producer.crash!r}"
        print(f"\n{len(producer.accepted)} runs accepted, {producer.refused} batches refused")
        ids = producer.accepted
        assert wait_until(lambda: all_final(deployed.db, ids), recovery, 0.5), (
            f"{statuses(deployed.db, ids)}\n{consumers[0].log_tail()}"
        )
        for consumer in consumers:
            assert consumer.alive(), f"consumer exited:\n{consumer.log_tail()}"
    finally:
        for consumer in consumers:
            consumer.stop()
    return ids


@pytest.mark.timeout(180 + 60 * OUTAGES)
def test_a_redis_restart_loses_no_run(http_sink: HttpSink, tmp_path: Path) -> None:
    http_sink.default = Reply(delay=0.01)
    with (
        private_redis(tmp_path) as server,
        fresh_postgres_url("wf_chaos") as url,
        postgres_deployment(tmp_path, url, server.url) as deployed,
    ):
        # Messages in Redis die with it: the first sweep after the restart sees the queue
        # emptied and enqueues their rows again at once (not once 30 s overdue).
        # (Before, they waited to be 30 s overdue: about 27 s from here.)
        recovery = 20.0
        ids = ride_through(
            deployed, http_sink, tmp_path, lambda: server.restart(DOWN_FOR), recovery
        )
        # Runs triggered while Redis was down, or whose message died with it, ran only
        # because the sweeper enqueued them again.
        assert swept_up(deployed.db, ids) >= 1
        # No worker died, so no step may run twice.
        assert_recovered(deployed.db, "outage", ids, http_sink, max_repeats=0)


@pytest.mark.timeout(180 + 60 * OUTAGES)
def test_a_postgres_restart_loses_no_run(
    postgres_server: PrivatePostgres, http_sink: HttpSink, tmp_path: Path
) -> None:
    http_sink.default = Reply(delay=0.01)
    url = postgres_server.create_database("chaos_restart")
    with postgres_deployment(tmp_path, url, redis_test_url()) as deployed:
        # Runs whose writes died with the server stay RUNNING until their lease expires.
        recovery = WORKFLOW_TIMEOUT + LEASE_GRACE.total_seconds() + SWEEP_INTERVAL + 60
        ids = ride_through(
            deployed, http_sink, tmp_path, lambda: postgres_server.restart(DOWN_FOR), recovery
        )
        # A step in flight when the server died runs again, at most once per crash: after
        # its hand-back when the claim survived, at once when the crash undid the claim.
        # The consumers held at most this many executions at each crash.
        held = 2 * WORKERS * deployed.settings.queue.batch_size * OUTAGES
        assert_recovered(deployed.db, "outage", ids, http_sink, max_repeats=held,
                         database_crashes=OUTAGES)  # fmt: skip
