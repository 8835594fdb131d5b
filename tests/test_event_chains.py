"""Actions that emit events start other workflows: once per step, and never in a loop."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from engine.db import Database, session_scope
from engine.execution.executor import Executor
from engine.models import WorkflowExecution, WorkflowExecutionLog
from engine.services.workflows import save_document
from engine.triggers.new_executions import emit_from_step, run_workflow
from tests.conftest import settings_for_url


class RecordingQueue:
    def __init__(self) -> None:
        self.dispatched: list[str] = []

    def dispatch(self, execution_id: str, delay: float | None = None) -> None:
        self.dispatched.append(execution_id)

    def dispatch_many(self, ids: list[str]) -> None:
        self.dispatched.extend(ids)


def _workflow(name: str, trigger: dict[str, Any], emit: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "create_task", "title": f"from {name}"}
    if emit:
        action["emit_event"] = emit
    return {"name": name, "enabled": True, "triggers": [trigger], "actions": [action]}


def _executions(db: Database) -> list[WorkflowExecution]:
    with session_scope(db) as session:
        query = select(WorkflowExecution).order_by(col(WorkflowExecution.event_depth))
        return list(session.exec(query).all())


def _run_until_quiet(db: Database, executor: Executor, queue: RecordingQueue) -> None:
    for _ in range(50):
        if not queue.dispatched:
            return
        executor.run(queue.dispatched.pop(0))
    raise AssertionError("the chain did not stop")


def test_an_emitted_event_starts_its_listener_once(any_db: Database) -> None:
    save_document(any_db, _workflow("source", {"type": "manual"}, emit="task.created"), actor="t")
    save_document(
        any_db, _workflow("listener", {"type": "event", "event": "task.created"}), actor="t"
    )
    queue = RecordingQueue()
    executor = Executor(
        any_db, settings_for_url(any_db.url), "w", dispatch=queue.dispatch_many,
        emit_event=emit_from_step,
    )  # fmt: skip
    (source_id,) = run_workflow(any_db, queue, "source", {"n": 1}, actor="t")
    queue.dispatched.clear()
    assert executor.run(source_id).status == "SUCCESS"
    (listener_id,) = queue.dispatched
    executor.run(listener_id)
    source, listener = _executions(any_db)
    assert (listener.id, listener.trigger_type, listener.event_depth) == (listener_id, "event", 1)
    assert listener.status == "SUCCESS"
    assert listener.trigger_data["event"] == "task.created"
    assert listener.trigger_data["source"] == {
        "workflow": "source", "execution_id": source.id, "step": 0,
    }  # fmt: skip
    assert "task_id" in listener.trigger_data["data"]
    # The same step emitting again (a retry after a crash) starts nothing new.
    again = emit_from_step(
        any_db, "task.created", {}, execution_id=source.id, step_index=0, depth=1
    )
    assert again == []
    assert len(_executions(any_db)) == 2


def test_a_loop_stops_at_the_depth_limit(any_db: Database) -> None:
    save_document(
        any_db, _workflow("looper", {"type": "event", "event": "again"}, emit="again"), actor="t"
    )
    settings = settings_for_url(any_db.url)
    settings.workflow.max_event_depth = 3
    queue = RecordingQueue()
    executor = Executor(
        any_db, settings, "w", dispatch=queue.dispatch_many, emit_event=emit_from_step
    )
    emit_from_step(any_db, "again", {}, execution_id="seed", step_index=0, depth=0)
    queue.dispatched.extend(e.id for e in _executions(any_db))
    _run_until_quiet(any_db, executor, queue)
    chain = _executions(any_db)
    assert [e.event_depth for e in chain] == [0, 1, 2, 3]
    assert all(e.status == "SUCCESS" for e in chain)
    with session_scope(any_db) as session:
        stopped = session.exec(
            select(WorkflowExecutionLog.message).where(
                WorkflowExecutionLog.execution_id == chain[-1].id,
                WorkflowExecutionLog.level == "WARNING",
            )
        ).all()
    assert stopped == ["event 'again' not emitted: chains stop at depth 3"]
