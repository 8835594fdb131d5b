"""Pause, resume with a catch-up policy, and per-workflow limits, with real consumers.

Each test runs on SQLite + SqliteHuey and on PostgreSQL + Redis, with a consumer process
(``huey_consumer engine.queue.huey``), signed webhooks sent to a real ``serve`` app, and a
loopback sink the workflow's webhook step calls.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from engine.execution import claims as store
from engine.http.signature import sign
from engine.security import outbound
from engine.services.executions import list_executions
from engine.services.flow_control import SUPERSEDED, WORKER_ACTOR, pause, resume
from engine.services.flow_limits import set_limit
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow
from tests import http_sink as sink_fixtures
from tests.consumers import Deployment, deployment, running_consumer, wait_until
from tests.execution_support import keys_seen, workflow_document
from tests.http_sink import HttpSink, Reply
from tests.test_http_hooks import Server

http_sink = sink_fixtures.http_sink
E = store.E
SECRET = "flow-control-secret"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(params=["sqlite", "postgres"])
def deployed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    with deployment(request.param, tmp_path) as deployed:
        yield deployed


@pytest.fixture(autouse=True)
def _close_http_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The hook secret as an environment reference: PostgreSQL stores no literal secret
    # without an encryption key.
    monkeypatch.setenv("WF_FLOW_HOOK_SECRET", SECRET)
    yield
    outbound.close_clients()


def _hooked(deployed: Deployment, name: str, sink: HttpSink) -> None:
    """A workflow started by a signed webhook on /hooks/NAME that POSTs to the sink."""
    document = workflow_document(name, [sink.url("/hook")], max_retries=0)
    document["triggers"] = [{"type": "webhook", "path": name, "secret": "${WF_FLOW_HOOK_SECRET}"}]
    save_document(deployed.db, document, actor="tester")


def _send_hooks(deployed: Deployment, name: str, count: int) -> list[str]:
    """``count`` signed webhooks; every one must be accepted (202). Their ids, in order."""
    security = deployed.settings.security.model_copy(update={"rate_limit_per_minute": 100_000})
    settings = deployed.settings.model_copy(update={"security": security})
    ids: list[str] = []
    with Server(settings, deployed.db) as server, httpx.Client(timeout=30) as client:
        for number in range(count):
            body = json.dumps({"n": number}).encode()
            answer = client.post(
                f"{server.base}/hooks/{name}", content=body,
                headers={"X-Wf-Signature": sign(SECRET, int(time.time()), body),
                         "Content-Type": "application/json"},
            )  # fmt: skip
            assert answer.status_code == 202, answer.text
            ids += answer.json()["executions"]
    return ids


def _rows(deployed: Deployment, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    with deployed.db.engine.connect() as conn:
        rows = conn.execute(sa.select(E.id, E.status, E.error).where(E.id.in_(ids))).all()
    return {row.id: (row.status, row.error) for row in rows}


def _statuses(deployed: Deployment, ids: list[str]) -> Counter[str]:
    return Counter(status for status, _ in _rows(deployed, ids).values())


def _waiting(deployed: Deployment, name: str) -> Counter[str | None]:
    rows = list_executions(deployed.db, workflow=name, limit=500)
    return Counter(row.waiting for row in rows)


def test_a_paused_workflow_holds_its_webhooks_and_latest_runs_only_the_newest(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    _hooked(deployed, "held", http_sink)
    pause(deployed.db, "held", actor="tester")
    with running_consumer(deployed, tmp_path / "consumer.log") as consumer:
        ids = _send_hooks(deployed, "held", 30)
        # The consumer has looked at every message (each found its workflow paused).
        time.sleep(2.0)
        assert http_sink.requests == [], consumer.log_tail()
        assert _statuses(deployed, ids) == Counter({"PENDING": 30})
        assert _waiting(deployed, "held") == Counter({"paused": 30})
        result = resume(deployed.db, "held", actor="tester", catch_up="latest",
                        queue=deployed.queue)  # fmt: skip
        assert (result.held, result.started, result.cancelled) == (30, [ids[-1]], 29)
        assert wait_until(lambda: _statuses(deployed, ids)["SUCCESS"] == 1, 30), consumer.log_tail()
        time.sleep(1.0)  # nothing else may follow
    assert keys_seen(http_sink) == [f"{ids[-1]}:0"]
    rows = _rows(deployed, ids)
    assert {rows[i] for i in ids[:-1]} == {("CANCELLED", SUPERSEDED)}
    with deployed.db.engine.connect() as conn:
        count = conn.execute(sa.select(store.W.execution_count)).scalar_one()
    assert count == 30  # the cancelled ones count as cancels do


def test_resume_all_delivers_every_held_run_and_pause_for_resumes_by_itself(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    _hooked(deployed, "catch-up", http_sink)
    with running_consumer(deployed, tmp_path / "consumer.log") as consumer:
        pause(deployed.db, "catch-up", actor="tester")
        first = _send_hooks(deployed, "catch-up", 10)
        time.sleep(1.0)
        assert http_sink.requests == []
        result = resume(deployed.db, "catch-up", actor="tester", queue=deployed.queue)
        assert (result.held, len(result.started), result.cancelled) == (10, 10, 0)
        assert wait_until(lambda: _statuses(deployed, first)["SUCCESS"] == 10, 60), (
            consumer.log_tail()
        )
        assert sorted(keys_seen(http_sink)) == sorted(f"{i}:0" for i in first)

        paused = pause(deployed.db, "catch-up", actor="tester", for_="3s")
        assert paused.paused_until is not None
        second = _send_hooks(deployed, "catch-up", 5)
        assert _statuses(deployed, second) == Counter({"PENDING": 5})
        assert len(http_sink.requests) == 10
        # Some worker's housekeeping resumes it once the 3 s are up (sweep every 0.5 s).
        assert wait_until(lambda: _statuses(deployed, second)["SUCCESS"] == 5, 60), (
            consumer.log_tail()
        )
    assert sorted(keys_seen(http_sink)[10:]) == sorted(f"{i}:0" for i in second)
    with deployed.db.engine.connect() as conn:
        audit = (
            conn.execute(sa.text("SELECT actor FROM audit_log WHERE action = 'workflow.resume'"))
            .scalars()
            .all()
        )
    assert audit == ["tester", WORKER_ACTOR]


class _ConcurrencySink(HttpSink):
    """A sink that counts the requests it holds open at once (each reply waits ``delay``)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.default = Reply(delay=delay)
        self.delay = delay

    def most_at_once(self) -> int:
        """The largest number of requests open at the same moment."""
        edges = sorted(
            [(r.received_at, 1) for r in self.requests]
            + [(r.received_at + self.delay, -1) for r in self.requests]
        )  # an end sorts before a start at the same instant
        most = now = 0
        for _, step in edges:
            now += step
            most = max(most, now)
        return most


def test_a_concurrency_limit_never_lets_more_than_two_run_at_once(
    deployed: Deployment, tmp_path: Path
) -> None:
    with _ConcurrencySink(delay=0.4) as sink:
        save_document(deployed.db, workflow_document("capped", [sink.url("/hook")]),
                      actor="tester")  # fmt: skip
        state = set_limit(deployed.db, "capped", actor="tester", concurrency=2)
        assert state.concurrency == 2
        ids = run_workflow(deployed.db, deployed.queue, "capped", actor="tester", count=12)
        with running_consumer(deployed, tmp_path / "consumer.log", workers=4) as consumer:
            seen_limit = wait_until(lambda: _waiting(deployed, "capped")["limit"] > 0, 20)
            assert wait_until(lambda: _statuses(deployed, ids)["SUCCESS"] == 12, 90), (
                consumer.log_tail()
            )
        assert seen_limit
        assert sorted(keys_seen(sink)) == sorted(f"{i}:0" for i in ids)
        assert sink.most_at_once() == 2


def test_a_rate_limit_holds_runs_and_delivers_them_all_over_time(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    document = workflow_document("metered", [http_sink.url("/hook")], rate_limit="2/s")
    save_document(deployed.db, document, actor="tester")
    ids = run_workflow(deployed.db, deployed.queue, "metered", actor="tester", count=8)
    with running_consumer(deployed, tmp_path / "consumer.log", workers=4) as consumer:
        seen_limit = wait_until(lambda: _waiting(deployed, "metered")["limit"] > 0, 20)
        assert wait_until(lambda: _statuses(deployed, ids)["SUCCESS"] == 8, 90), consumer.log_tail()
    assert seen_limit
    assert sorted(keys_seen(http_sink)) == sorted(f"{i}:0" for i in ids)
    arrivals = [request.received_at for request in http_sink.requests]
    # 2 per one-second window: 8 runs take at least three windows after the first.
    assert max(arrivals) - min(arrivals) > 2.0
