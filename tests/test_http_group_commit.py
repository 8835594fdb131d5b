"""Group commit at the receiver (issue 14, item 3): requests that arrive together are
inserted in one transaction and enqueued as one message; each is answered 202 only once
its rows are committed; a storage failure answers every request of the group 503, stores
nothing and releases their signatures. A real uvicorn server, SQLite and PostgreSQL.

And conditions decided at ingress for webhooks (item 2): a request whose workflow's
conditions are false is stored SKIPPED in the same transaction and never enqueued.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import engine.http.hook_rounds as http_app
from engine.config import Settings
from engine.db import Database
from engine.execution.claims import EXECUTIONS, LOGS, WORKFLOWS
from engine.execution.decisions import SKIPPED_LOG
from engine.http.group_commit import Rounds
from engine.http.signature import sign
from engine.services.workflows import save_document
from tests.test_http_hooks import JSON, Server

SECRET_ENV = "WF_GROUP_TEST_SECRET"
SECRET = "group-commit-secret"
CLIENTS = 12


@pytest.fixture
def server(any_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    settings = Settings.model_validate(
        {
            "database": {"url": any_db.url},
            "queue": {"path": str(tmp_path / "queue.db"), "embedded_worker": False},
            "security": {"rate_limit_per_minute": 100_000},
        }
    )
    save_document(any_db, {
        "name": "orders", "enabled": True,
        "triggers": [{"type": "webhook", "path": "orders", "secret": f"${{{SECRET_ENV}}}"}],
        "conditions": {"path": "trigger.amount", "op": "gt", "value": 500},
        "actions": [{"type": "create_task", "title": "t"}],
    }, actor="t")  # fmt: skip
    with Server(settings, any_db) as running:
        yield running


def _rounds(server: Server) -> Rounds:
    app: Any = server.server.config.app
    rounds: Rounds = app.state.rounds
    return rounds


def _signed(amount: int, n: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"amount": amount, "n": n}).encode()
    return body, {"X-Wf-Signature": sign(SECRET, int(time.time()), body), "Content-Type": JSON}


def _send_all(server: Server, requests: list[tuple[bytes, dict[str, str]]],
              on_answer: Any = None) -> list[httpx.Response]:  # fmt: skip
    def send(request: tuple[bytes, dict[str, str]]) -> httpx.Response:
        body, headers = request
        answer = httpx.post(f"{server.base}/hooks/orders", content=body, headers=headers,
                            timeout=30)  # fmt: skip
        if on_answer is not None:
            on_answer(answer)
        return answer

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(send, requests))


def _rows(db: Database) -> dict[str, str]:
    with db.engine.connect() as conn:
        return dict(conn.execute(sa.select(EXECUTIONS.c.id, EXECUTIONS.c.status)).all())


def _slow_first_round(monkeypatch: pytest.MonkeyPatch, calls: list[int],
                      fail: bool = False) -> None:  # fmt: skip
    """Hold the first round's insert a moment (the other requests pile up behind it) and
    record how many requests each insert carried; ``fail``: every insert raises."""
    real = http_app.start_hooks

    def start(db: Database, queue: Any, requests: Any) -> Any:
        calls.append(len(requests))
        if len(calls) == 1:
            time.sleep(1.0)  # long enough for the other clients to connect, even when busy
        if fail:
            raise RuntimeError("database is down")
        return real(db, queue, requests)

    monkeypatch.setattr(http_app, "start_hooks", start)


def test_requests_that_arrive_together_share_one_commit_and_one_message(
    server: Server, any_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    _slow_first_round(monkeypatch, calls)
    seen_after_202: list[bool] = []

    def committed_before_answer(answer: httpx.Response) -> None:
        if answer.status_code == 202:  # the rows must be there the moment the 202 arrives
            ids = answer.json()["executions"]
            seen_after_202.append(all(i in _rows(any_db) for i in ids))

    requests = [_signed(900, n) for n in range(3 * CLIENTS)]
    answers = _send_all(server, requests, committed_before_answer)

    assert [a.status_code for a in answers] == [202] * len(requests)
    assert seen_after_202 == [True] * len(requests)
    # Fewer transactions than requests, and at least one carried many requests.
    assert sum(calls) == len(requests)
    assert len(calls) < len(requests) and max(calls) >= CLIENTS // 2
    rounds = _rounds(server)
    assert rounds.rounds < rounds.jobs  # admits and accepts were done several at a time
    # Enqueued together: fewer messages than executions, every id in one of them.
    ids = [i for a in answers for i in a.json()["executions"]]
    messages = server.receiver.queue.huey.pending()
    queued = [i for m in messages for i in (m.args[0] if isinstance(m.args[0], list)
                                            else [m.args[0]])]  # fmt: skip
    assert sorted(queued) == sorted(ids)
    assert len(messages) < len(ids)
    assert set(_rows(any_db).values()) == {"PENDING"}


def test_a_storage_failure_answers_the_whole_group_503_and_stores_nothing(
    server: Server, any_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    _slow_first_round(monkeypatch, calls, fail=True)
    requests = [_signed(900, n) for n in range(2 * CLIENTS)]

    answers = _send_all(server, requests)

    assert [(a.status_code, a.headers.get("retry-after")) for a in answers] == [(503, "5")] * len(
        requests
    )
    assert len(calls) < len(requests) and max(calls) > 1  # groups failed as a whole
    assert _rows(any_db) == {}
    assert server.receiver.queue.huey.pending_count() == 0
    # Their signatures were released: the senders' retries (same signatures) go through.
    monkeypatch.undo()
    monkeypatch.setenv(SECRET_ENV, SECRET)
    retried = _send_all(server, requests)
    assert [a.status_code for a in retried] == [202] * len(requests)
    assert len(_rows(any_db)) == len(requests)


def test_a_replay_inside_one_group_is_refused_once(
    server: Server, any_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    _slow_first_round(monkeypatch, calls)
    same = _signed(900, 1)
    answers = _send_all(server, [_signed(900, 0), *[same] * (CLIENTS - 1)])
    codes = sorted(a.status_code for a in answers)
    assert codes == [202, 202] + [401] * (CLIENTS - 2)
    assert len(_rows(any_db)) == 2


def test_a_webhook_whose_conditions_are_false_is_stored_skipped_and_not_enqueued(
    server: Server, any_db: Database
) -> None:
    answers = _send_all(server, [_signed(100 if n % 2 else 900, n) for n in range(20)])
    assert [a.status_code for a in answers] == [202] * 20
    rows = _rows(any_db)
    assert sorted(rows.values()) == ["PENDING"] * 10 + ["SKIPPED"] * 10
    queue = server.receiver.queue.huey
    queued = {i for m in queue.pending() for i in (m.args[0] if isinstance(m.args[0], list)
                                                   else [m.args[0]])}  # fmt: skip
    assert queued == {i for i, status in rows.items() if status == "PENDING"}
    with any_db.engine.connect() as conn:
        logs = conn.execute(sa.select(LOGS.c.execution_id, LOGS.c.message)).all()
        counters = conn.execute(
            sa.select(WORKFLOWS.c.execution_count, WORKFLOWS.c.success_count,
                      WORKFLOWS.c.failure_count, WORKFLOWS.c.avg_execution_ms)
        ).one()  # fmt: skip
    assert sorted(logs) == sorted((i, SKIPPED_LOG) for i, s in rows.items() if s == "SKIPPED")
    assert tuple(counters) == (10, 0, 0, None)


def test_a_lone_request_is_not_held_back(server: Server) -> None:
    body, headers = _signed(900, 0)
    started = time.monotonic()
    answer = httpx.post(f"{server.base}/hooks/orders", content=body, headers=headers)
    assert answer.status_code == 202
    assert time.monotonic() - started < 1  # no linger: nobody else was under way
