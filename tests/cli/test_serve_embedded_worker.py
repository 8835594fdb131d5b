"""``wfconsole serve`` on the local default runs what it accepts: its embedded worker.

SQLite + SqliteHuey with no consumer process: a signed webhook's run ends SUCCESS, and
with ``queue.embedded_worker = false`` it stays PENDING with its message queued. SIGTERM
stops the worker cleanly (its heartbeat row goes) and the process exits 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.http.signature import sign
from engine.models import utcnow
from engine.security import outbound
from engine.services.workers import list_workers
from engine.services.workflows import save_document
from tests import http_sink as sink_fixtures
from tests.chaos.harness import set_keys
from tests.chaos.processes import ServeProcess, running_serve
from tests.consumers import Deployment, deployment, wait_until
from tests.execution_support import execution_row, keys_seen, workflow_document
from tests.http_sink import HttpSink

pytestmark = pytest.mark.slow
http_sink = sink_fixtures.http_sink
SECRET = "serve-embedded-secret"


@pytest.fixture
def deployed(tmp_path: Path, http_sink: HttpSink) -> Iterator[Deployment]:
    with deployment("sqlite", tmp_path) as deployed:
        document = workflow_document("hooked", [http_sink.url("/hook")])
        document["triggers"] = [{"type": "webhook", "path": "hooked", "secret": SECRET}]
        save_document(deployed.db, document, actor="tester")
        yield deployed


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    outbound.close_clients()


def post_signed(serve: ServeProcess) -> str:
    """One signed webhook; returns the id of the run it started."""
    body = json.dumps({"invoice": 7}).encode()
    header = sign(SECRET, int(time.time()), body)
    headers = {"X-Wf-Signature": header, "Content-Type": "application/json"}
    reply = httpx.post(f"{serve.url}/hooks/hooked", content=body, headers=headers, timeout=30.0)
    assert reply.status_code == 202, reply.text
    [execution_id] = reply.json()["executions"]
    return str(execution_id)


def embedded_workers(deployed: Deployment) -> int:
    workers = list_workers(deployed.db, now=utcnow(), interval=5.0)
    return sum(w.kind == "embedded" and w.alive for w in workers)


def test_serve_runs_an_accepted_webhook_with_its_embedded_worker_and_stops_it_cleanly(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    with running_serve(deployed, tmp_path / "serve.log") as serve:
        execution_id = post_signed(serve)
        succeeded = lambda: execution_row(deployed.db, execution_id).status == "SUCCESS"  # noqa: E731
        assert wait_until(succeeded, 30), serve.log_tail()
        assert embedded_workers(deployed) == 1
        serve.stop()
        assert serve.process.returncode == 0, serve.log_tail()
    assert keys_seen(http_sink) == [f"{execution_id}:0"]
    assert list_workers(deployed.db, now=utcnow(), interval=5.0) == []  # said goodbye


def test_serve_without_the_embedded_worker_leaves_the_run_pending(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    set_keys(deployed, "queue", embedded_worker=False)
    with running_serve(deployed, tmp_path / "serve.log") as serve:
        execution_id = post_signed(serve)
        time.sleep(2.0)  # an embedded worker polls every 20 ms: it would have run it
        assert execution_row(deployed.db, execution_id).status == "PENDING"
        assert deployed.queue.depth()["queued"] == 1
        assert embedded_workers(deployed) == 0
    assert http_sink.requests == []
