"""Retention cleanup on PostgreSQL while a live worker executes runs: short batches, no
run lost, nothing unfinished touched, and no waiting behind rows another transaction holds.

The old history (20,000 finished runs, 100,000 log lines) is written by PostgreSQL itself
(``bench._cleanup_seed``), so seeding takes about a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from bench._cleanup_seed import libpq_url, seed_old_history, seed_unfinished
from engine.execution.claims import E
from engine.maintenance.cleanup import LOCK_TIMEOUT_MS, plan_cleanup, run_cleanup
from engine.models import FINAL_STATUSES
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow
from tests.consumers import Deployment, deployment, running_consumer, wait_until

OLD_RUNS, LOGS_PER = 20_000, 5
UNFINISHED_EACH = 5
STREAM = "stream"


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Deployment]:
    with deployment("postgres", tmp_path) as deployed:
        yield deployed


def _workflow(db: Any, name: str) -> str:
    save_document(
        db,
        {"name": name, "triggers": [{"type": "manual"}],
         "actions": [{"type": "create_task", "title": "t {{ trigger.n }}"}]},
        actor="tester",
    )  # fmt: skip
    with db.engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT id FROM workflow WHERE name = :n"), {"n": name})
                   .scalar_one())  # fmt: skip


def _seed(deployed: Deployment, executions: int = OLD_RUNS) -> None:
    workflow_id = _workflow(deployed.db, "old")
    seed_old_history(deployed.db.url, workflow_id, executions, LOGS_PER)
    seed_unfinished(deployed.db.url, workflow_id, UNFINISHED_EACH)


def _unfinished_rows(deployed: Deployment) -> set[tuple[Any, ...]]:
    with deployed.db.engine.connect() as conn:
        return set(
            conn.execute(
                sa.select(E.id, E.status, E.lease_until, E.worker_id, E.available_at).where(
                    E.status.in_(("PENDING", "RUNNING")), E.trigger_data["old"].isnot(None)
                )
            ).all()
        )


def _old_finished(deployed: Deployment) -> int:
    with deployed.db.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM workflow_execution WHERE trigger_data = '{}'")
            ).scalar_one()
        )


class _Stream:
    """Triggers a run every ``interval`` seconds from a thread until stopped."""

    def __init__(self, deployed: Deployment, interval: float = 0.05) -> None:
        self.ids: list[str] = []
        self._stop = threading.Event()

        def run() -> None:
            while not self._stop.wait(interval):
                self.ids += run_workflow(deployed.db, deployed.queue, STREAM, {"n": 1},
                                         actor="tester")  # fmt: skip

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join()
        return self.ids


def _statuses(deployed: Deployment, ids: list[str]) -> list[str]:
    with deployed.db.engine.connect() as conn:
        return list(conn.execute(sa.select(E.status).where(E.id.in_(ids))).scalars())


def test_cleanup_under_a_live_worker_keeps_batches_short_and_loses_no_run(
    deployed: Deployment, tmp_path: Path
) -> None:
    _seed(deployed)
    _workflow(deployed.db, STREAM)
    unfinished = _unfinished_rows(deployed)
    assert len(unfinished) == 2 * UNFINISHED_EACH
    plan = plan_cleanup(deployed.db, logs_days=90, executions_days=30)
    assert plan.executions == OLD_RUNS
    with running_consumer(deployed, tmp_path / "consumer.log", workers=2) as consumer:
        stream = _Stream(deployed)
        # The worker is up and executing before the cleanup starts.
        assert wait_until(lambda: "SUCCESS" in _statuses(deployed, stream.ids[:1]), 30), (
            consumer.log_tail()
        )
        result = run_cleanup(
            deployed.db, logs_days=90, executions_days=30, actor="tester",
            batch_size=4000, target_seconds=0.05, plan=plan,
        )  # fmt: skip
        ids = stream.stop()
        assert wait_until(lambda: sorted(set(_statuses(deployed, ids))) == ["SUCCESS"], 60), (
            consumer.log_tail()
        )
    assert result.executions_deleted == OLD_RUNS
    assert result.logs_deleted == plan.old_logs
    assert _old_finished(deployed) == 0
    # Paced by time: many small batches, none near a second even on a loaded machine.
    assert result.batches >= (OLD_RUNS + plan.old_logs) // 4000
    assert result.longest_batch < 1.0, sorted(result.batch_seconds)[-5:]
    assert len(ids) >= 5
    assert set(FINAL_STATUSES) >= set(_statuses(deployed, ids))
    assert _unfinished_rows(deployed) == unfinished


def test_cleanup_skips_an_execution_another_transaction_holds(deployed: Deployment) -> None:
    _seed(deployed, executions=200)
    with deployed.db.engine.connect() as conn:
        held = conn.execute(
            sa.text("SELECT id FROM workflow_execution WHERE trigger_data = '{}' LIMIT 1")
        ).scalar_one()
    url = libpq_url(deployed.db.url)
    with psycopg.connect(url) as holder:
        holder.execute("SELECT 1 FROM workflow_execution WHERE id = %s FOR UPDATE", (held,))
        started = time.monotonic()
        first = run_cleanup(deployed.db, logs_days=90, executions_days=30, actor="tester")
        waited = time.monotonic() - started
        holder.rollback()
    assert first.executions_deleted == 199
    assert first.timeouts == 0
    assert waited < 10  # it did not queue behind the holder (which never lets go here)
    again = run_cleanup(deployed.db, logs_days=90, executions_days=30, actor="tester")
    assert again.executions_deleted == 1
    assert _old_finished(deployed) == 0


def test_cleanup_gives_up_rather_than_queue_behind_a_table_lock(deployed: Deployment) -> None:
    _seed(deployed, executions=100)
    url = libpq_url(deployed.db.url)
    with psycopg.connect(url) as holder:
        holder.execute("LOCK TABLE workflow_execution_log IN SHARE MODE")
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
            run_cleanup(deployed.db, logs_days=90, executions_days=30, actor="tester")
        waited = time.monotonic() - started
        holder.rollback()
    assert waited < 8 * (LOCK_TIMEOUT_MS / 1000 + 0.1) + 5
    assert _old_finished(deployed) == 100
