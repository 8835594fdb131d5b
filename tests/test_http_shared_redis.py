"""A receiver round on one Redis (issue 14): with the limits on the queue's Redis, the
rate-limit counts and the replay claims go in one pipeline before the insert, the
enqueue and the releases in one after the commit (engine/http/round_redis.py). Every
guarantee holds: a replay is refused, the limit answers 429 with Retry-After (and a
request refused so does not use up its signature), 202 comes with the rows committed
and the message on the queue, and a failed enqueue is the sweeper's.
A real uvicorn server, real Redis, SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from engine.config import Settings
from engine.db import Database
from engine.execution.claims import EXECUTIONS
from engine.http.round_redis import SharedRedis, round_store
from engine.http.signature import sign
from engine.services.workflows import save_document
from engine.workers.runtime import Queue
from tests.consumers import redis_test_url
from tests.test_http_hooks import JSON, Server

SECRET_ENV = "WF_SHARED_REDIS_SECRET"
SECRET = "shared-redis-secret"
LIMIT = 4


@pytest.fixture
def server(any_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Server]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    url = redis_test_url()
    name = f"t-shared-{uuid.uuid4().hex[:10]}"
    settings = Settings.model_validate({
        "database": {"url": any_db.url},
        "queue": {"redis_url": url, "name": name, "embedded_worker": False,
                  "signing_key": "shared-redis-test-key"},
        "security": {"rate_limit_per_minute": LIMIT},
    })  # fmt: skip
    save_document(any_db, {
        "name": "orders", "enabled": True,
        "triggers": [{"type": "webhook", "path": "orders", "secret": f"${{{SECRET_ENV}}}"}],
        "actions": [{"type": "create_task", "title": "t"}],
    }, actor="t")  # fmt: skip
    try:
        with Server(settings, any_db) as running:
            yield running
    finally:
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(f"*{name}*"))
        if keys:
            client.delete(*keys)
        client.close()


def _signed(n: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"n": n}).encode()
    return body, {"X-Wf-Signature": sign(SECRET, int(time.time()), body), "content-type": JSON}


def _statuses(db: Database) -> dict[str, str]:
    with db.engine.connect() as conn:
        return dict(conn.execute(sa.select(EXECUTIONS.c.id, EXECUTIONS.c.status)).all())


def _queued_ids(server: Server) -> list[str]:
    queue: Queue = server.receiver.queue
    ids: list[str] = []
    for data in queue.huey.storage.enqueued_items():
        task = queue.huey.deserialize_task(data)
        arg = task.args[0]
        ids.extend(arg if isinstance(arg, list) else [arg])
    return ids


def test_the_receiver_uses_the_shared_pipelines(server: Server) -> None:
    receiver = server.receiver
    assert isinstance(round_store(receiver.limits, receiver.queue), SharedRedis)


def test_accepted_requests_are_committed_and_enqueued_and_a_replay_is_refused(
    server: Server, any_db: Database
) -> None:
    body, headers = _signed(1)
    first = server.post("orders", body, **headers)
    assert first.status_code == 202
    [execution_id] = first.json()["executions"]
    assert _statuses(any_db) == {execution_id: "PENDING"}
    assert _queued_ids(server) == [execution_id]
    replay = server.post("orders", body, **headers)
    assert (replay.status_code, replay.json()["error"]) == (401, "signature already used (replay)")
    assert list(_statuses(any_db)) == [execution_id]


def test_the_rate_limit_answers_429_with_retry_after(server: Server, any_db: Database) -> None:
    if time.time() % 60 > 45:  # all in one window of the limit
        time.sleep(61 - time.time() % 60)
    sent = [_signed(n) for n in range(LIMIT + 1)]
    answers = [server.post("orders", body, **dict(headers)) for body, headers in sent]
    assert [a.status_code for a in answers] == [202] * LIMIT + [429]
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 60
    assert len(_statuses(any_db)) == LIMIT
    assert sorted(_queued_ids(server)) == sorted(_statuses(any_db))
    # The refused request's signature was released: sent again in the next window it passes.
    client = redis.Redis.from_url(redis_test_url())
    try:
        prefix = f"wfconsole:{server.receiver.settings.queue.name}"
        body, headers = sent[-1]
        [signature] = [p.removeprefix("v1=") for p in headers["X-Wf-Signature"].split(",")
                       if p.startswith("v1=")]  # fmt: skip
        assert client.exists(f"{prefix}:replay:{signature}") == 0
        # Further requests of the window: 429 at once, not counted again.
        [count_key] = client.keys(f"{prefix}:rate:*")
        again = server.post("orders", body, **dict(headers))
        assert again.status_code == 429 and int(again.headers["retry-after"]) >= 1
        assert int(client.get(count_key) or 0) == LIMIT + 1
    finally:
        client.close()


def test_a_failed_enqueue_still_answers_202_and_leaves_the_run_to_the_sweeper(
    server: Server, any_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Queue, execution_ids: Any) -> Any:
        raise redis.ConnectionError("queue is down")

    monkeypatch.setattr(Queue, "redis_messages", broken)
    body, headers = _signed(9)
    answer = server.post("orders", body, **headers)
    assert answer.status_code == 202
    [execution_id] = answer.json()["executions"]
    assert _statuses(any_db) == {execution_id: "PENDING"}  # committed: the sweeper's
    assert _queued_ids(server) == []
