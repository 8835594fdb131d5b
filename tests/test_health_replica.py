"""Health with a read replica that does not answer: degraded, not unhealthy.

Every write goes to the primary, so only the primary decides ``database``; the replica
gets a ``replica`` sub-check of its own and the counts come from the primary instead.
The "replica" here is a port with nothing listening.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.config import Settings
from engine.db import Database, connect_database
from engine.http.health import health_document
from engine.queue.instance import make_huey
from engine.services.health import check_health
from engine.services.tokens import create_token
from engine.services.workflows import save_document
from tests.cli.runner import runner
from tests.test_http_hooks import Server

NOWHERE = "postgresql://nobody@127.0.0.1:1/none"
FLOW = {"name": "flow", "triggers": [{"type": "manual"}],
        "actions": [{"type": "create_task", "title": "t"}]}  # fmt: skip


def _settings(url: str, read_url: str, tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {"database": {"url": url, "read_url": read_url},
         "queue": {"path": str(tmp_path / "queue.db")}}
    )  # fmt: skip


@pytest.fixture
def replica_down(postgres_db: Database, tmp_path: Path) -> Iterator[tuple[Settings, Database]]:
    save_document(postgres_db, FLOW, actor="tester")
    settings = _settings(postgres_db.url, NOWHERE, tmp_path)
    db = connect_database(settings)
    yield settings, db
    db.dispose()


def test_health_stays_200_and_says_the_replica_is_degraded(
    replica_down: tuple[Settings, Database],
) -> None:
    settings, db = replica_down
    token = create_token(db, actor="root", name="monitor").token
    with Server(settings, db) as server:
        answer = httpx.get(f"{server.base}/health", timeout=20)
        detailed = httpx.get(
            f"{server.base}/health", headers={"Authorization": f"Bearer {token}"}, timeout=20
        )

    assert answer.status_code == 200
    document = answer.json()
    assert document["status"] == "healthy"
    database = document["checks"]["database"]
    assert database == {"status": "up", "replica": {"status": "degraded"}}  # no error text
    assert document["checks"]["workflows"] == {"total": 1, "enabled": 1, "executing": 0}
    assert document["checks"]["queue"] == {"status": "up"}
    # The why is for a valid API token only (it names hosts and users).
    assert detailed.status_code == 200
    replica = detailed.json()["checks"]["database"]["replica"]
    assert replica["status"] == "degraded" and replica["error"].startswith("replica: ")
    assert "127.0.0.1" in replica["error"]


def test_the_console_header_check_is_ok_with_the_replica_down(
    replica_down: tuple[Settings, Database],
) -> None:
    settings, db = replica_down
    report = check_health(db, make_huey(settings))
    assert report.ok and report.database.ok
    assert report.replica is not None and not report.replica.ok
    assert report.replica.detail.startswith("replica: ")


def test_cli_health_prints_the_replica_line_and_exits_0(
    replica_down: tuple[Settings, Database],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, _ = replica_down
    config = tmp_path / "c.toml"
    config.write_text(
        f"[database]\nurl = {json.dumps(settings.database_url)}\n"
        f"read_url = {json.dumps(NOWHERE)}\n"
        f"[queue]\npath = {json.dumps(str(tmp_path / 'queue.db'))}\n",
        encoding="utf-8",
    )
    outcome = runner(capsys, config)("health")
    assert outcome.code == 0, outcome.err
    lines = outcome.out.splitlines()
    assert lines[0] == "database   up"
    assert lines[1].startswith("replica    degraded (replica: ")
    assert "status     healthy" in lines


def test_a_primary_down_is_unhealthy_and_named(postgres_db: Database, tmp_path: Path) -> None:
    settings = _settings(NOWHERE, postgres_db.url, tmp_path)  # the replica answers
    db = connect_database(settings)
    try:
        with Server(settings, db) as server:
            answer = httpx.get(f"{server.base}/health", timeout=20)
        document = health_document(db, make_huey(settings).pending_count)
    finally:
        db.dispose()
    assert answer.status_code == 503
    # Over HTTP without a token: the state only (no token can be checked on this primary).
    assert answer.json()["checks"]["database"] == {"status": "down", "replica": {"status": "up"}}
    database = document["checks"]["database"]  # `wfconsole health --json`: the why too
    assert database["status"] == "down" and database["error"].startswith("primary: ")
    assert database["replica"] == {"status": "up"}
