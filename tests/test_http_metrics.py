"""``GET /metrics`` on a real uvicorn server, read with httpx and prometheus_client's parser."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select

from engine.config import Settings
from engine.db import Database, session_scope
from engine.http.metrics import scrape
from engine.models import WorkerHeartbeat, Workflow, WorkflowExecution, utcnow
from engine.services.workflows import save_document
from tests.test_http_hooks import Server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples_of(text: str) -> Samples:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _seed(db: Database) -> list[str]:
    save_document(db, {"name": "alpha", "triggers": [{"type": "manual"}],
                       "actions": [{"type": "create_task", "title": "t"}]}, actor="t")  # fmt: skip
    now = utcnow()
    ids = []
    with session_scope(db) as session:
        workflow = session.exec(select(Workflow)).one()
        workflow.execution_count, workflow.success_count, workflow.failure_count = 7, 5, 2
        for status, duration in (
            ("SUCCESS", 100.0), ("SUCCESS", 300.0), ("FAILED", 200.0),
            ("RUNNING", None), ("PENDING", None),
        ):  # fmt: skip
            ago = now - timedelta(minutes=5)
            row = WorkflowExecution(
                workflow_id=workflow.id, status=status, trigger_type="manual",
                created_at=ago, available_at=ago, duration_ms=duration,
                completed_at=ago if duration is not None else None,
            )  # fmt: skip
            session.add(row)
            ids.append(row.id)
        session.add(WorkerHeartbeat(worker_id="w1", hostname="h", pid=1, kind="consumer"))
    return ids


@pytest.fixture
def server(sqlite_db: Database, tmp_path: Path) -> Iterator[Server]:
    settings = Settings.model_validate(
        {"database": {"url": sqlite_db.url}, "queue": {"path": str(tmp_path / "queue.db")}}
    )
    with Server(settings, sqlite_db) as running:
        yield running


def test_metrics_exposes_the_engine_figures(server: Server, sqlite_db: Database) -> None:
    ids = _seed(sqlite_db)
    server.receiver.queue.dispatch(ids[-1])
    server.receiver.queue.dispatch(ids[-2])  # no consumer runs: both stay queued
    answer = httpx.get(f"{server.base}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = samples_of(answer.text)
    expected = {
        ("wfconsole_up", (("component", "database"),)): 1,
        ("wfconsole_up", (("component", "queue"),)): 1,
        ("wfconsole_queue_depth", (("state", "queued"),)): 2,
        ("wfconsole_queue_depth", (("state", "scheduled"),)): 0,
        ("wfconsole_executions", (("status", "RUNNING"),)): 1,
        ("wfconsole_executions", (("status", "PENDING"),)): 1,
        ("wfconsole_executions_delayed", ()): 0,
        ("wfconsole_workflows", ()): 1,
        ("wfconsole_workflows_enabled", ()): 1,
        ("wfconsole_executions_finished_total", ()): 7,
        ("wfconsole_executions_succeeded_total", ()): 5,
        ("wfconsole_executions_failed_total", ()): 2,
        ("wfconsole_executions_last_hour", (("status", "SUCCESS"),)): 2,
        ("wfconsole_executions_last_hour", (("status", "FAILED"),)): 1,
        ("wfconsole_executions_last_hour", (("status", "CANCELLED"),)): 0,
        ("wfconsole_executions_last_hour", (("status", "SKIPPED"),)): 0,
        ("wfconsole_workers_alive", ()): 1,
    }
    assert {key: samples.get(key) for key in expected} == expected
    assert samples[("wfconsole_success_ratio_last_hour", ())] == pytest.approx(2 / 3)
    assert samples[("wfconsole_execution_duration_avg_seconds", ())] == pytest.approx(0.2)
    assert samples[("wfconsole_execution_duration_p95_seconds", ())] == pytest.approx(0.29)


def test_an_idle_deployment_leaves_out_the_rates(server: Server) -> None:
    samples = samples_of(httpx.get(f"{server.base}/metrics", timeout=10).text)
    assert samples[("wfconsole_executions_finished_total", ())] == 0
    assert ("wfconsole_success_ratio_last_hour", ()) not in samples
    assert ("wfconsole_execution_duration_p95_seconds", ()) not in samples


class DownQueue:
    def pending_count(self) -> int:
        raise ConnectionError("redis is down")

    def scheduled_count(self) -> int:
        raise ConnectionError("redis is down")


def test_a_failing_database_or_queue_is_a_zero_not_an_error(sqlite_db: Database) -> None:
    with sqlite_db.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE worker_heartbeat"))
    families = {family.name: family for family in scrape(sqlite_db, DownQueue())}
    up = {sample.labels["component"]: sample.value for sample in families["wfconsole_up"].samples}
    assert up == {"database": 0, "queue": 0}
    assert "wfconsole_queue_depth" not in families


def test_openmetrics_when_the_scraper_asks_for_it(server: Server) -> None:
    answer = httpx.get(
        f"{server.base}/metrics",
        headers={"Accept": "application/openmetrics-text; version=1.0.0"},
        timeout=10,
    )
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.endswith("# EOF\n")
    assert "wfconsole_executions_finished_total 0" in answer.text
