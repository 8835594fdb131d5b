"""A consumer that starts while PostgreSQL is down (a private server, stopped).

Its first connection fails inside the outage. Each message it takes then finds the
database unreachable: the run stays PENDING and the message comes round again a few
seconds later, instead of failing with a traceback and waiting 30 s for the sweeper. The
log says so once per outage, and once when the database is back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.queue.sweeper import STALE_PENDING
from engine.security import outbound
from engine.triggers.new_executions import run_workflow
from engine.workers.runtime import OUTAGE_RETRY_SECONDS
from tests import http_sink as sink_fixtures
from tests.chaos.harness import (
    all_final,
    assert_recovered,
    define_hook_workflow,
    postgres_deployment,
    statuses,
    swept_up,
)
from tests.chaos.servers import private_postgres
from tests.consumers import redis_test_url, running_consumer, wait_until
from tests.http_sink import HttpSink

pytestmark = [pytest.mark.chaos, pytest.mark.slow]
http_sink = sink_fixtures.http_sink
OUTAGE_LINE = "database unavailable"


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    outbound.close_clients()


@pytest.mark.timeout(120)
def test_a_consumer_started_in_an_outage_runs_its_messages_soon_after_and_logs_it_once(
    http_sink: HttpSink, tmp_path: Path
) -> None:
    log_path = tmp_path / "consumer.log"
    with private_postgres() as server:
        url = server.create_database("outage_at_start")
        with postgres_deployment(tmp_path, url, redis_test_url()) as deployed:
            name = define_hook_workflow(deployed.db, "outage", http_sink)
            ids = run_workflow(deployed.db, deployed.queue, name, count=5, actor="chaos")
            deployed.db.dispose()
            server.stop()
            with running_consumer(deployed, log_path, workers=2) as consumer:
                in_outage = lambda: OUTAGE_LINE in log_path.read_text()  # noqa: E731
                assert wait_until(in_outage, 60), consumer.log_tail()
                # The messages come round again and meet the outage a few more times.
                time.sleep(3 * OUTAGE_RETRY_SECONDS)
                server.start()
                back_at = time.monotonic()
                assert wait_until(lambda: all_final(deployed.db, ids), 30, 0.2), (
                    f"{statuses(deployed.db, ids)}\n{consumer.log_tail()}"
                )
                took = time.monotonic() - back_at
            # Their own messages ran them, not the sweeper's re-enqueue of stale rows.
            assert swept_up(deployed.db, ids) == 0
            assert_recovered(deployed.db, name, ids, http_sink, max_repeats=0)

    assert took < STALE_PENDING.total_seconds() / 2, f"{took:.1f} s after the database came back"
    log = log_path.read_text()
    assert log.count(OUTAGE_LINE) == 1, log
    assert log.count("database available again") == 1, log
    assert "Traceback" not in log, log
