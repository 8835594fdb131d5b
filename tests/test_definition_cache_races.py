"""A workflow that changes between a trigger's cached lookup and its insert gets no row.

The race is made deterministic: the trigger's lookup is cached first, then the workflow
row is changed behind the cache (hand-written SQL, which no cache hears of), so the
trigger inserts with the answer it looked up while the row says otherwise — exactly the
state of a change that commits between the lookup and the insert.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.db import Database
from engine.http.hooks import HooksChanged, hooks_on, start_hooks
from engine.models import AuditLog, Workflow, WorkflowExecution, table_of
from engine.services.workflows import save_document
from engine.triggers.new_executions import (
    WorkflowDisabled,
    emit_event,
    emit_from_step,
    run_workflow,
)
from engine.workers.runtime import Queue
from engine.workflow_cache.lookups import event_listeners, find_workflow
from tests.test_definition_cache import (  # noqa: F401  (fixture `queue`)
    ADMIN,
    NAME,
    change_behind_the_cache,
    orders,
    queue,
    versions_run,
)
from tests.test_http_hooks import Server

E = table_of(WorkflowExecution).c


def audit_actions(db: Database) -> list[str]:
    audit = table_of(AuditLog)
    with db.engine.connect() as conn:
        return list(conn.execute(sa.select(audit.c.action).order_by(audit.c.id)).scalars())


def started_workflows(db: Database) -> list[tuple[str, int]]:
    with db.engine.connect() as conn:
        query = sa.select(E.workflow_id, E.workflow_version).order_by(E.workflow_id)
        return [(str(w), int(v)) for w, v in conn.execute(query)]


def workflow_id(db: Database, name: str = NAME) -> str:
    workflow = find_workflow(db, name)
    assert workflow is not None
    return workflow.id


def test_a_manual_run_of_a_workflow_disabled_since_its_lookup_is_refused(
    any_db: Database,
    queue: Queue,  # noqa: F811
) -> None:
    save_document(any_db, orders("v1"), actor=ADMIN)
    assert find_workflow(any_db, NAME) is not None  # cached: enabled, version 1
    change_behind_the_cache(any_db, enabled=False)

    with pytest.raises(WorkflowDisabled):
        run_workflow(any_db, queue, NAME, actor=ADMIN, count=3)

    assert versions_run(any_db) == []
    assert "workflow.run" not in audit_actions(any_db)
    assert queue.huey.pending_count() == 0


def test_a_manual_run_of_a_workflow_saved_since_its_lookup_runs_the_new_version(
    any_db: Database,
    queue: Queue,  # noqa: F811
) -> None:
    save_document(any_db, orders("v1"), actor=ADMIN)
    assert find_workflow(any_db, NAME) is not None  # cached: version 1
    change_behind_the_cache(any_db, version=2)

    ids = run_workflow(any_db, queue, NAME, actor=ADMIN, count=2)

    assert len(ids) == 2
    assert versions_run(any_db) == [2, 2]
    assert audit_actions(any_db).count("workflow.run") == 1
    assert queue.huey.pending_count() >= 1  # enqueued (a few ids may share a message)


def test_a_webhook_whose_workflow_was_disabled_during_the_accept_writes_nothing(
    any_db: Database,
    queue: Queue,  # noqa: F811
) -> None:
    save_document(any_db, orders("v1"), actor=ADMIN)
    hooks = hooks_on(any_db, "orders")
    change_behind_the_cache(any_db, enabled=False)

    with pytest.raises(HooksChanged):
        start_hooks(any_db, queue, hooks, {"n": 1})

    assert versions_run(any_db) == []
    assert queue.huey.pending_count() == 0
    assert hooks_on(any_db, "orders") == []  # the refusal made the cache read again


def test_serve_answers_503_to_that_webhook_and_404_to_its_retry(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = Settings.model_validate(
        {"database": {"url": sqlite_db.url}, "queue": {"path": str(tmp_path / "queue.db")}}
    )
    save_document(sqlite_db, orders("v1"), actor=ADMIN)
    body = json.dumps({"n": 1}).encode()
    with Server(settings, sqlite_db) as server:
        accepted = server.post("orders", body)
        change_behind_the_cache(sqlite_db, enabled=False)
        refused = server.post("orders", body)
        retried = server.post("orders", body)

    assert accepted.status_code == 202
    assert (refused.status_code, refused.headers.get("retry-after")) == (503, "5")
    assert retried.status_code == 404
    assert versions_run(sqlite_db) == [1]


def test_an_event_starts_the_listeners_current_at_the_insert(
    any_db: Database,
    queue: Queue,  # noqa: F811
) -> None:
    save_document(any_db, orders("v1"), actor=ADMIN)
    save_document(any_db, {**orders("v1"), "name": "other", "triggers": [
        {"type": "event", "event": "order.created"}]}, actor=ADMIN)  # fmt: skip
    assert len(event_listeners(any_db, "order.created")) == 2  # cached: both at version 1
    orders_id, other_id = workflow_id(any_db), workflow_id(any_db, "other")
    with any_db.engine.begin() as conn:  # behind the cache: one disabled, one saved again
        workflows = table_of(Workflow)
        conn.execute(sa.update(workflows).where(workflows.c.id == orders_id).values(enabled=False))
        conn.execute(sa.update(workflows).where(workflows.c.id == other_id).values(version=5))

    ids = emit_event(any_db, queue, "order.created", actor=ADMIN)
    from_step = emit_from_step(
        any_db, "order.created", {}, execution_id="e-1", step_index=0, depth=1
    )
    step_again = emit_from_step(
        any_db, "order.created", {}, execution_id="e-1", step_index=0, depth=1
    )

    assert len(ids) == 1 and len(from_step) == 1 and step_again == []
    assert started_workflows(any_db) == [(other_id, 5), (other_id, 5)]
    assert queue.huey.pending_count() == 1
