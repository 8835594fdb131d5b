"""Helpers for tests that run executions in-process: workflow documents, row readers,
counter checks, and ``Engine`` (one database, a real local queue and an executor)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.db import Database
from engine.execution import claims as store
from engine.execution.decisions import Outcome
from engine.execution.executor import Executor
from engine.models import FINAL_STATUSES, utcnow
from engine.services.workflows import save_document
from engine.triggers.new_executions import emit_from_step, run_workflow
from engine.workers.runtime import Queue
from tests.http_sink import HttpSink

E, W = store.E, store.W


# --- helpers shared with the queue and CLI tests ----------------------------------------


def webhook_action(url: str, **fields: Any) -> dict[str, Any]:
    """A POST webhook step to ``url``."""
    return {"type": "webhook", "method": "POST", "url": url, "body": {"n": 1}, **fields}


def workflow_document(name: str, urls: list[str], **fields: Any) -> dict[str, Any]:
    """An enabled, manually triggered workflow with one webhook step per URL."""
    document: dict[str, Any] = {
        "name": name,
        "enabled": True,
        "max_retries": 3,
        "retry_delay": 10,
        "timeout": 30,
        "triggers": [{"type": "manual"}],
        "actions": [webhook_action(url) for url in urls],
    }
    document.update(fields)
    return document


def execution_row(db: Database, execution_id: str) -> Any:
    """The execution's row as stored."""
    with db.engine.connect() as conn:
        return conn.execute(sa.select(store.EXECUTIONS).where(E.id == execution_id)).one()


def step_rows(db: Database, execution_id: str) -> list[Any]:
    """The execution's step rows, by index."""
    steps = store.STEPS
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(steps)
                .where(steps.c.execution_id == execution_id)
                .order_by(steps.c.step_index)
            )
        )


def make_due(db: Database, execution_id: str, *, ago: float = 0.0) -> None:
    """Move a PENDING row's available_at to ``ago`` seconds in the past (skip the wait)."""
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(store.EXECUTIONS)
            .where(E.id == execution_id)
            .values(available_at=utcnow() - timedelta(seconds=ago))
        )


def _same_instant(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) < 1e-3


def assert_counters_match_table(db: Database, workflow_name: str) -> None:
    """The workflow's counters equal what its executions table says."""
    with db.engine.connect() as conn:
        workflow = conn.execute(sa.select(store.WORKFLOWS).where(W.name == workflow_name)).one()
        rows = conn.execute(
            sa.select(E.status, E.duration_ms, E.completed_at).where(E.workflow_id == workflow.id)
        ).all()
    final = [r for r in rows if r.status in FINAL_STATUSES]
    timed = [r.duration_ms for r in final if r.status in ("SUCCESS", "FAILED")]
    assert workflow.execution_count == len(final)
    assert workflow.success_count == sum(r.status == "SUCCESS" for r in final)
    assert workflow.failure_count == sum(r.status == "FAILED" for r in final)
    if timed:
        assert workflow.avg_execution_ms == pytest.approx(sum(timed) / len(timed), rel=1e-6)
    else:
        assert workflow.avg_execution_ms is None
    latest = max((r.completed_at for r in final), default=None)
    assert _same_instant(workflow.last_execution_at, latest)


def keys_seen(sink: HttpSink) -> list[str]:
    """The Idempotency-Key of every request the sink received, in order."""
    return [request.headers.get("idempotency-key", "") for request in sink.requests]


@dataclass
class Engine:
    """One database, a real local queue and an executor, as a worker process has them."""

    db: Database
    settings: Settings
    queue: Queue
    executor: Executor

    def workflow(self, name: str, urls: list[str], **fields: Any) -> str:
        save_document(self.db, workflow_document(name, urls, **fields), actor="tester")
        return name

    def trigger(self, name: str, data: dict[str, Any] | None = None) -> str:
        [execution_id] = run_workflow(self.db, self.queue, name, data, actor="tester")
        return execution_id

    def run(self, execution_id: str) -> Outcome:
        return self.executor.run(execution_id)


def make_engine(db: Database, tmp_path: Path, **workflow_settings: Any) -> Engine:
    settings = Settings.model_validate(
        {
            "database": {"url": db.url},
            "queue": {"path": str(tmp_path / "queue.db"), "name": "executor-tests"},
            "security": {"allow_private_targets": True},
            # One HTTP request per attempt, so the sink counts attempts.
            "workflow": {"webhook_max_retries": 0, **workflow_settings},
        }
    )
    queue = Queue(settings, db=db)
    executor = Executor(db, settings, "test-worker", emit_event=emit_from_step)
    return Engine(db, settings, queue, executor)


def claim_now(db: Database, execution_id: str, *, lease: float = 60.0, cap: int = 10) -> Any:
    """Claim one execution as a worker would (lease seconds from now, RUNNING cap)."""
    now = utcnow()
    with db.engine.begin() as conn:
        return store.claim(
            conn, execution_id, now=now, lease_until=now + timedelta(seconds=lease),
            worker_id="other-worker", max_running=cap,
        )  # fmt: skip


def run_in_background(engine: Engine, execution_id: str) -> tuple[threading.Thread, list[Outcome]]:
    """Run one execution on a thread of its own; its outcome lands in the list."""
    outcomes: list[Outcome] = []
    worker = threading.Thread(target=lambda: outcomes.append(engine.run(execution_id)))
    worker.start()
    return worker, outcomes


def await_request(sink: HttpSink, what: str, timeout: float = 5.0) -> None:
    """Wait until ``sink`` got a request; fail naming ``what`` when it never came."""
    deadline = time.monotonic() + timeout
    while not sink.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.requests, f"{what} never started"
