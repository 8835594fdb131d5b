"""A canary secret pushed through failing actions by the real executor never shows:
not in log rows, step results or errors, the execution's error, any other table, the
queue's storage, stdout/stderr/log records, or the console's execution detail.

The failing peers even echo the credential back in their answers, as careless servers do.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from engine.config import Settings
from engine.db import Database
from engine.execution.executor import Executor
from engine.security import outbound
from engine.security.crypto import Vault, generate_key
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow
from engine.workers.runtime import Queue
from tests.console.conftest import screen_text
from tests.execution_support import make_due
from tests.http_sink import HttpSink, Reply
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend
from wfconsole.console.screens.execution_detail import ExecutionDetailScreen

CANARY = "canary-4e1f0d7b9a"
KEY = generate_key()


@dataclasses.dataclass
class Deployment:
    db: Database
    settings: Settings
    queue: Queue
    queue_path: Path


@pytest.fixture
def deployment(any_db: Database, tmp_path: Path) -> Iterator[Deployment]:
    settings = Settings.model_validate(
        {
            "database": {"url": any_db.url},
            "queue": {"path": str(tmp_path / "queue.db"), "name": "canary"},
            "security": {"allow_private_targets": True, "encryption_key": KEY},
            "workflow": {"webhook_max_retries": 0},
        }
    )
    db = dataclasses.replace(any_db, vault=Vault(KEY))
    yield Deployment(db, settings, Queue(settings, db=db), tmp_path / "queue.db")
    outbound.close_clients()


@pytest.fixture
def failing_peer() -> Iterator[HttpSink]:
    """Answers 500 and quotes the credentials it was sent."""
    with HttpSink() as sink:
        sink.default = Reply(500, f"bad token Bearer {CANARY} at /services/x/{CANARY}".encode())
        yield sink


def workflow(name: str, action: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "enabled": True,
        "max_retries": 1,
        "retry_delay": 1,
        "timeout": 30,
        "triggers": [{"type": "manual"}],
        "actions": [action],
    }


def run_to_the_end(deployment: Deployment, name: str) -> str:
    """Trigger through the queue, then let the executor run every attempt."""
    [execution_id] = run_workflow(deployment.db, deployment.queue, name, {}, actor="t")
    executor = Executor(deployment.db, deployment.settings, "canary-worker")
    assert executor.run(execution_id).status == "RETRY"
    make_due(deployment.db, execution_id)
    assert executor.run(execution_id).status == "FAILED"
    return execution_id


def every_stored_row(db: Database) -> str:
    """All rows of all tables, as text."""
    with db.engine.connect() as conn:
        return "\n".join(
            repr(tuple(row))
            for table in SQLModel.metadata.sorted_tables
            for row in conn.execute(sa.select(table))
        )


def queue_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


async def detail_text(deployment: Deployment, execution_id: str) -> str:
    app = WfConsoleApp(
        EngineBackend(deployment.db, deployment.settings),
        operator="t",
        initial_section="executions",
    )
    async with app.run_test(size=(160, 60)) as pilot:
        await app.push_screen(ExecutionDetailScreen(app.backend, execution_id))
        for _ in range(3):
            await pilot.pause()
            await app.workers.wait_for_complete()
        return screen_text(app)


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(
            lambda url: {
                "type": "webhook",
                "url": url("/hook"),
                "headers": {"Authorization": f"Bearer {CANARY}"},
            },
            id="webhook-authorization",
        ),
        pytest.param(
            lambda url: {"type": "slack", "text": "hi", "webhook_url": url(f"/services/{CANARY}")},
            id="slack-webhook-url",
        ),
    ],
)
async def test_a_canary_secret_never_shows_anywhere(
    deployment: Deployment,
    failing_peer: HttpSink,
    action: Any,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    save_document(deployment.db, workflow("leaky", action(failing_peer.url)), actor="t")

    execution_id = run_to_the_end(deployment, "leaky")

    seen = [r.path + " " + r.headers.get("authorization", "") for r in failing_peer.requests]
    assert len(seen) == 2 and all(CANARY in s for s in seen)  # the peer got the real secret
    stored = every_stored_row(deployment.db)
    assert "HTTP 500" in stored and "FAILED" in stored  # the failure itself is recorded
    assert CANARY not in stored
    assert CANARY.encode() not in queue_bytes(deployment.queue_path)
    shown = await detail_text(deployment, execution_id)
    assert "HTTP 500" in shown
    assert CANARY not in shown
    captured = capfd.readouterr()
    assert CANARY not in captured.out + captured.err
    assert not [r for r in caplog.records if CANARY in r.getMessage()]


def test_a_step_whose_secret_the_key_cannot_open_fails_permanently_naming_the_key(
    deployment: Deployment, failing_peer: HttpSink
) -> None:
    action = {"type": "teams", "text": "hi", "webhook_url": failing_peer.url(f"/{CANARY}")}
    save_document(deployment.db, workflow("wrong-key", action), actor="t")
    stranger = dataclasses.replace(deployment.db, vault=Vault(generate_key()))
    [execution_id] = run_workflow(deployment.db, deployment.queue, "wrong-key", {}, actor="t")

    outcome = Executor(stranger, deployment.settings, "canary-worker").run(execution_id)

    assert outcome.status == "FAILED"  # permanent: no retry with the same wrong key
    assert failing_peer.requests == []
    stored = every_stored_row(deployment.db)
    assert "cannot be decrypted with ENCRYPTION_KEY" in stored
    assert CANARY not in stored
