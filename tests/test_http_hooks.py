"""``wfconsole serve``: a real uvicorn server on loopback, httpx as the sender."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from sqlmodel import select

from engine.config import Settings
from engine.db import Database, session_scope
from engine.http.app import create_app
from engine.http.limits import RedisLimits
from engine.http.signature import sign
from engine.models import WorkflowExecution
from engine.services.tokens import create_token
from engine.services.workflows import save_document
from tests.cli.runner import runner
from tests.consumers import redis_test_url
from wfconsole.cli.commands.serve import build_receiver

SECRET = "s3cret-for-tests"
JSON = "application/json"


def _workflow(
    name: str, path: str, secret: str | None = None, enabled: bool = True
) -> dict[str, Any]:
    trigger: dict[str, Any] = {"type": "webhook", "path": path}
    if secret is not None:
        trigger["secret"] = secret
    return {
        "name": name,
        "enabled": enabled,
        "triggers": [trigger],
        "actions": [{"type": "create_task", "title": "t"}],
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A running ``serve`` app; ``url(path)`` addresses it."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.receiver = build_receiver(settings, db)
        port = _free_port()
        config = uvicorn.Config(
            create_app(self.receiver), host="127.0.0.1", port=port, log_level="warning",
            proxy_headers=False,  # as `wfconsole serve`: http.trusted_proxies decides
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.base = f"http://127.0.0.1:{port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def post(self, path: str, body: bytes, **headers: str) -> httpx.Response:
        """POST ``body`` as ``application/json`` unless a ``content-type`` is given."""
        if not any(name.lower() == "content-type" for name in headers):
            headers["content-type"] = JSON
        return httpx.post(f"{self.base}/hooks/{path}", content=body, headers=headers, timeout=10)


@pytest.fixture
def server(sqlite_db: Database, tmp_path: Path) -> Iterator[Server]:
    settings = Settings.model_validate(
        {
            "database": {"url": sqlite_db.url},
            "queue": {"path": str(tmp_path / "queue.db")},
            "security": {"rate_limit_per_minute": 5, "webhook_max_body_bytes": 1000},
        }
    )
    save_document(sqlite_db, _workflow("open-hook", "open"), actor="t")
    save_document(sqlite_db, _workflow("signed-hook", "signed", SECRET), actor="t")
    save_document(sqlite_db, _workflow("env-hook", "env", "${WF_TEST_HOOK_SECRET}"), actor="t")
    save_document(sqlite_db, _workflow("off-hook", "off", enabled=False), actor="t")
    with Server(settings, sqlite_db) as running:
        yield running


def _executions(db: Database) -> list[WorkflowExecution]:
    with session_scope(db) as session:
        return list(session.exec(select(WorkflowExecution)).all())


def test_an_open_hook_starts_its_workflow_and_enqueues_it(
    server: Server, sqlite_db: Database
) -> None:
    answer = server.post("open", b'{"order": 42}', **{"content-type": "application/json"})
    assert answer.status_code == 202
    ids = answer.json()["executions"]
    assert len(ids) == 1
    (execution,) = _executions(sqlite_db)
    assert (execution.id, execution.status, execution.trigger_type) == (
        ids[0],
        "PENDING",
        "webhook",
    )
    assert execution.trigger_data == {"order": 42}
    assert server.receiver.queue.huey.pending_count() == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("nowhere", b"{}", 404, "no webhook trigger on this path"),
        ("off", b"{}", 404, "no webhook trigger on this path"),
        ("nowhere", b"x" * 5000, 404, "no webhook trigger"),  # path is checked first
        ("open", b"x" * 1001, 413, "body too large"),
        ("signed", b"x" * 1001, 413, "body too large"),  # size before signature
        ("signed", b"{}", 401, "missing X-Wf-Signature header"),
        ("open", b"{not json", 400, "body is not valid JSON"),
        ("open", b"[1, 2]", 400, "body must be a JSON object"),
        ("open", b"\xff\xfe", 400, "body is not valid JSON"),
    ],
)
def test_refusals_follow_the_contract(
    server: Server, sqlite_db: Database, path: str, body: bytes, status: int, message: str
) -> None:
    answer = server.post(path, body)
    assert answer.status_code == status
    assert message in answer.json()["error"]
    assert _executions(sqlite_db) == []


def test_a_chunked_body_past_the_limit_is_413(server: Server, sqlite_db: Database) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 100

    answer = httpx.post(
        f"{server.base}/hooks/open", content=chunks(), headers={"content-type": JSON}, timeout=10
    )
    assert answer.status_code == 413
    assert _executions(sqlite_db) == []


def test_signatures_are_checked_and_not_replayable(server: Server, sqlite_db: Database) -> None:
    body = json.dumps({"event": "paid"}).encode()
    now = int(time.time())
    header = "X-Wf-Signature"
    wrong = server.post("signed", body, **{header: sign("other", now, body)})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "signature does not match")
    old = server.post("signed", body, **{header: sign(SECRET, now - 301, body)})
    assert old.status_code == 401 and "tolerance" in old.json()["error"]
    bad_json = b"{nope"
    unsigned_bad = server.post("signed", bad_json, **{header: "t=1,v1=zz"})
    assert unsigned_bad.status_code == 401  # signature before body
    good = sign(SECRET, now, body)
    accepted = server.post("signed", body, **{header: good})
    assert accepted.status_code == 202
    replayed = server.post("signed", body, **{header: good})
    assert (replayed.status_code, replayed.json()["error"]) == (
        401,
        "signature already used (replay)",
    )
    assert [e.id for e in _executions(sqlite_db)] == accepted.json()["executions"]


def test_a_secret_may_come_from_the_environment(
    server: Server, sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b"{}"
    now = int(time.time())
    unset = server.post("env", body, **{"X-Wf-Signature": sign("from-env", now, body)})
    assert unset.status_code == 401  # no variable: nothing can verify
    monkeypatch.setenv("WF_TEST_HOOK_SECRET", "from-env")
    accepted = server.post("env", body, **{"X-Wf-Signature": sign("from-env", now, body)})
    assert accepted.status_code == 202


def test_past_the_rate_limit_is_429_with_retry_after(server: Server) -> None:
    answers = [server.post("open", b"{}") for _ in range(6)]
    assert [a.status_code for a in answers] == [202] * 5 + [429]
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 60


def test_health_reports_counts_and_turns_503_when_the_queue_is_down(
    server: Server, sqlite_db: Database
) -> None:
    answer = httpx.get(f"{server.base}/health", timeout=10)
    assert answer.status_code == 200
    document = answer.json()
    assert document["status"] == "healthy"
    assert document["checks"]["workflows"] == {"total": 4, "enabled": 3, "executing": 0}
    assert document["checks"]["database"] == {"status": "up"}

    def broken() -> object:
        raise ConnectionError("queue is gone")

    server.receiver.queue_probe = broken
    down = httpx.get(f"{server.base}/health", timeout=10)
    assert down.status_code == 503
    assert down.json()["checks"]["queue"] == {"status": "down"}  # the why: with a token
    token = create_token(sqlite_db, actor="root", name="monitor").token
    detailed = httpx.get(
        f"{server.base}/health", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert detailed.status_code == 503
    assert detailed.json()["checks"]["queue"] == {"status": "down", "error": "queue is gone"}


def test_redis_limits_are_shared_between_receivers() -> None:
    client = redis.Redis.from_url(redis_test_url())
    prefix = f"wftest:{uuid.uuid4().hex}"
    first, second = RedisLimits(client, prefix=prefix), RedisLimits(client, prefix=prefix)
    try:
        assert [first.hit("c|p", 3), second.hit("c|p", 3), first.hit("c|p", 3)] == [None] * 3
        wait = second.hit("c|p", 3)
        assert wait is not None and 1 <= wait <= 60
        assert first.first_use("p|sig", 600) is True
        assert second.first_use("p|sig", 600) is False
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()


def test_cli_health_json_and_exit_status(
    sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_document(sqlite_db, _workflow("open-hook", "open"), actor="t")
    config = tmp_path / "c.toml"
    queue_path = tmp_path / "q.db"
    config.write_text(
        f'[database]\nurl = "{sqlite_db.url}"\n[queue]\npath = "{queue_path}"\n',
        encoding="utf-8",
    )
    cli = runner(capsys, config)
    healthy = cli("health", "--json")
    assert healthy.code == 0, healthy.err
    document = json.loads(healthy.out)
    assert document["checks"]["workflows"] == {"total": 1, "enabled": 1, "executing": 0}
    config.write_text(
        '[database]\nurl = "postgresql://nobody@127.0.0.1:1/none"\n'
        f'[queue]\npath = "{queue_path}"\n',
        encoding="utf-8",
    )
    down = cli("health")
    assert down.code == 1
    assert "database   down" in down.out and "status     unhealthy" in down.out


def test_a_thousand_signed_requests_from_ten_clients_all_run(
    sqlite_db: Database, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from engine.workers.runtime import EmbeddedWorker

    settings = Settings.model_validate(
        {
            "database": {"url": sqlite_db.url},
            "queue": {"path": str(tmp_path / "queue.db")},
            "security": {"rate_limit_per_minute": 100_000},
        }
    )
    save_document(sqlite_db, _workflow("signed-hook", "signed", SECRET), actor="t")

    base: list[str] = []

    def client(number: int) -> list[int]:
        statuses = []
        with httpx.Client(timeout=30) as http:
            for index in range(100):
                body = json.dumps({"client": number, "n": index}).encode()
                header = sign(SECRET, int(time.time()), body)
                answer = http.post(
                    f"{base[0]}/hooks/signed", content=body,
                    headers={"X-Wf-Signature": header, "Content-Type": JSON},
                )  # fmt: skip
                statuses.append(answer.status_code)
        return statuses

    with Server(settings, sqlite_db) as running, ThreadPoolExecutor(10) as pool:
        base.append(running.base)
        statuses = [s for batch in pool.map(client, range(10)) for s in batch]
    assert statuses == [202] * 1000
    with EmbeddedWorker(running.receiver.queue):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = [e for e in _executions(sqlite_db) if e.status == "SUCCESS"]
            if len(done) == 1000:
                break
            time.sleep(0.2)
    executions = _executions(sqlite_db)
    assert len(executions) == 1000
    assert {e.status for e in executions} == {"SUCCESS"}
    assert {(e.trigger_data["client"], e.trigger_data["n"]) for e in executions} == {
        (c, n) for c in range(10) for n in range(100)
    }


def test_a_503_does_not_burn_the_signature_for_the_retry(
    server: Server, sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.http.hook_rounds as http_app

    real_start = http_app.start_hooks
    failures = [RuntimeError("database is down")]

    def flaky_start(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_start(*args)

    monkeypatch.setattr(http_app, "start_hooks", flaky_start)
    body = b'{"order": 7}'
    header = {"X-Wf-Signature": sign(SECRET, int(time.time()), body)}
    first = server.post("signed", body, **header)
    assert (first.status_code, first.headers["retry-after"]) == (503, "5")
    assert _executions(sqlite_db) == []
    retry = server.post("signed", body, **header)
    assert retry.status_code == 202
    again = server.post("signed", body, **header)
    assert (again.status_code, again.json()["error"]) == (401, "signature already used (replay)")
    assert len(_executions(sqlite_db)) == 1
