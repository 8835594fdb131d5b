"""Separate processes see a workflow change at once: a consumer, ``serve``, and /metrics.

The change is made in the test process; the consumer (``huey_consumer``) and the
``wfconsole serve`` child each have their own cache and learn of it only through the
generation token, with Redis (PostgreSQL deployment) and without (SQLite).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from engine.config import CONFIG_ENV, Settings
from engine.db import Database, connect_database
from engine.models import WorkflowExecution, table_of
from engine.services.workflow_admin import set_enabled
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow
from tests.consumers import Deployment, deployment, running_consumer, wait_until
from tests.test_http_hooks import Server

ADMIN = "admin"
E = table_of(WorkflowExecution).c


def source() -> dict[str, Any]:
    """A manual workflow whose step emits ``order.created``."""
    return {
        "name": "source",
        "enabled": True,
        "triggers": [{"type": "manual"}],
        "actions": [{"type": "create_task", "title": "t", "emit_event": "order.created"}],
    }


def listener(title: str, *, enabled: bool = True) -> dict[str, Any]:
    """Listens on the event and on a webhook path; a new ``title`` is a new version."""
    return {
        "name": "listener",
        "enabled": enabled,
        "triggers": [
            {"type": "event", "event": "order.created"},
            {"type": "webhook", "path": "orders"},
        ],
        "actions": [{"type": "create_task", "title": title}],
    }


def listener_versions(db: Database, trigger_type: str) -> list[int]:
    """Versions of the listener's executions started by ``trigger_type``, oldest first."""
    with db.engine.connect() as conn:
        query = (
            sa.select(E.workflow_version)
            .where(E.trigger_type == trigger_type)
            .order_by(E.created_at, E.id)
        )
        return list(conn.execute(query).scalars())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_consumer_starts_the_listener_version_saved_after_it_started(
    tmp_path: Path, kind: str
) -> None:
    with deployment(kind, tmp_path) as deployed:
        save_document(deployed.db, source(), actor=ADMIN)
        save_document(deployed.db, listener("v1"), actor=ADMIN)
        with running_consumer(deployed, tmp_path / "consumer.log") as consumer:
            run_workflow(deployed.db, deployed.queue, "source", actor=ADMIN)
            first = wait_until(lambda: listener_versions(deployed.db, "event") == [1], 30)
            assert first, consumer.log_tail()

            # Configured as the deployment is: with Redis, the change is announced there.
            writer = connect_database(deployed.settings)
            try:
                save_document(writer, listener("v2"), actor=ADMIN)
            finally:
                writer.dispose()
            run_workflow(deployed.db, deployed.queue, "source", actor=ADMIN)
            second = wait_until(lambda: len(listener_versions(deployed.db, "event")) == 2, 30)

            assert second, consumer.log_tail()
            assert listener_versions(deployed.db, "event") == [1, 2]


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[tuple[Deployment, str]]:
    """``wfconsole serve`` as a child process on SQLite + SqliteHuey (no Redis)."""
    with deployment("sqlite", tmp_path) as deployed:
        save_document(deployed.db, listener("v1"), actor=ADMIN)
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "wfconsole", "serve", "--port", str(port)],
            env={**os.environ, CONFIG_ENV: str(deployed.config_path)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            assert wait_until(lambda: _answers(base), 30), "serve did not start"
            yield deployed, base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code in (200, 503)
    except httpx.TransportError:
        time.sleep(0.05)
        return False


def test_a_serve_process_without_redis_accepts_hooks_with_the_latest_version(
    serve_process: tuple[Deployment, str],
) -> None:
    deployed, base = serve_process
    assert httpx.post(f"{base}/hooks/orders", json={"n": 1}).status_code == 202

    save_document(deployed.db, listener("v2"), actor=ADMIN)
    accepted = httpx.post(f"{base}/hooks/orders", json={"n": 2})
    set_enabled(deployed.db, "listener", False, actor=ADMIN)
    refused = httpx.post(f"{base}/hooks/orders", json={"n": 3})

    assert accepted.status_code == 202
    assert listener_versions(deployed.db, "webhook") == [1, 2]
    assert refused.status_code == 404


def test_metrics_count_the_hook_lookups(sqlite_db: Database, tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"database": {"url": sqlite_db.url}, "queue": {"path": str(tmp_path / "queue.db")}}
    )
    save_document(sqlite_db, listener("v1"), actor=ADMIN)
    with Server(settings, sqlite_db) as server:
        for n in range(3):
            assert server.post("orders", f'{{"n": {n}}}'.encode()).status_code == 202
        assert server.post("nowhere", b"{}").status_code == 404
        text = httpx.get(f"{server.base}/metrics", timeout=10).text

    samples = {
        (sample.name, sample.labels.get("kind")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("wfconsole_definition_cache_hits_total", "hooks")] == 2
    assert samples[("wfconsole_definition_cache_misses_total", "hooks")] == 2
    assert samples[("wfconsole_definition_cache_hit_ratio", None)] == 0.5
    assert samples[("wfconsole_definition_cache_enabled", None)] == 1
