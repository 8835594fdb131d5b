"""A signature is good once — on any path, not once per path.

The signed string is ``"<t>.<raw body>"``: it does not name the path, so a request signed
for one hook verifies on every path whose hook shares the secret. An outsider who saw one
accepted request (a log, a proxy, a mirrored endpoint) replays it, unchanged, on another
path. The replay store must refuse it: it is keyed by the signature alone.

Real ``wfconsole serve`` processes: on SQLite (the in-process replay store) and on
PostgreSQL + Redis (the Redis store, shared by two ``serve`` processes).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from engine.db import Database, session_scope
from engine.http.signature import sign
from engine.models import WorkflowExecution
from engine.services.workflows import save_document
from tests.chaos.harness import set_keys
from tests.chaos.processes import ServeProcess, running_serve
from tests.consumers import Deployment, deployment

pytestmark = pytest.mark.slow
SECRET_ENV, OTHER_ENV = "WF_REPLAY_TEST_SECRET", "WF_REPLAY_TEST_OTHER"
SECRET, OTHER = "shared-secret-of-two-paths", "a-second-secret"
JSON = "application/json"


def _hook_workflow(name: str, *paths_and_secrets: tuple[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "triggers": [{"type": "webhook", "path": p, "secret": "${" + s + "}"}
                     for p, s in paths_and_secrets],
        "actions": [{"type": "create_task", "title": "from {{ trigger.order }}"}],
    }  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def deployed(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    monkeypatch.setenv(SECRET_ENV, SECRET)  # the serve processes inherit them
    monkeypatch.setenv(OTHER_ENV, OTHER)
    with deployment(request.param, tmp_path) as deployed:
        set_keys(deployed, "queue", embedded_worker=False)
        save_document(deployed.db, _hook_workflow("orders", ("orders", SECRET_ENV)), actor="t")
        save_document(deployed.db, _hook_workflow("refunds", ("refunds", SECRET_ENV)), actor="t")
        save_document(deployed.db, _hook_workflow("audit", ("audit", OTHER_ENV)), actor="t")
        yield deployed


def _executions(db: Database) -> int:
    with session_scope(db) as session:
        return int(session.exec(select(func.count()).select_from(WorkflowExecution)).one())


def _post(serve: ServeProcess, path: str, body: bytes, signature: str) -> httpx.Response:
    headers = {"X-Wf-Signature": signature, "Content-Type": JSON}
    return httpx.post(f"{serve.url}/hooks/{path}", content=body, headers=headers, timeout=30)


def test_a_signature_accepted_on_one_path_is_refused_on_another_sharing_the_secret(
    deployed: Deployment, tmp_path: Path
) -> None:
    body = json.dumps({"order": 7, "amount": 1000}).encode()
    signature = sign(SECRET, int(time.time()), body)
    with running_serve(deployed, tmp_path / "serve.log") as serve:
        accepted = _post(serve, "orders", body, signature)
        assert accepted.status_code == 202, accepted.text
        replayed = _post(serve, "refunds", body, signature)
        again = _post(serve, "orders", body, signature)
    assert (replayed.status_code, replayed.json()) == (
        401, {"error": "signature already used (replay)"},
    )  # fmt: skip
    assert again.status_code == 401
    assert _executions(deployed.db) == 1


def test_every_signature_of_an_accepted_header_is_spent(
    deployed: Deployment, tmp_path: Path
) -> None:
    """A sender rotating its secret signs with both (``v1=<new>,v1=<old>``). The old secret
    may be another path's current one: that signature must not stay fresh for it."""
    body = b'{"order": 8}'
    now = int(time.time())
    header = f"{sign(SECRET, now, body)},v1={sign(OTHER, now, body).partition('v1=')[2]}"
    with running_serve(deployed, tmp_path / "serve.log") as serve:
        accepted = _post(serve, "orders", body, header)
        assert accepted.status_code == 202, accepted.text
        replayed = _post(serve, "audit", body, header)
        cut = _post(serve, "audit", body, f"t={now},v1={header.rpartition('v1=')[2]}")
    assert (replayed.status_code, cut.status_code) == (401, 401), (replayed.text, cut.text)
    assert _executions(deployed.db) == 1


def test_the_redis_store_refuses_the_replay_in_another_serve_process(tmp_path: Path) -> None:
    """Two ``serve`` processes behind one load balancer: the replay lands on the other."""
    body = b'{"order": 9}'
    with ExitStack() as stack:
        deployed = stack.enter_context(deployment("postgres", tmp_path))
        stack.enter_context(pytest.MonkeyPatch.context()).setenv(SECRET_ENV, SECRET)
        set_keys(deployed, "queue", embedded_worker=False)
        save_document(deployed.db, _hook_workflow("orders", ("orders", SECRET_ENV)), actor="t")
        save_document(deployed.db, _hook_workflow("refunds", ("refunds", SECRET_ENV)), actor="t")
        first = stack.enter_context(running_serve(deployed, tmp_path / "first.log"))
        second = stack.enter_context(running_serve(deployed, tmp_path / "second.log"))
        signature = sign(SECRET, int(time.time()), body)
        assert _post(first, "orders", body, signature).status_code == 202
        replayed = _post(second, "refunds", body, signature)
        assert replayed.status_code == 401, replayed.text
        assert replayed.json()["error"] == "signature already used (replay)"
        assert _executions(deployed.db) == 1
