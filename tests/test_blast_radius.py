"""The blast radius of a bulk retry or cancel, and the role-checked retry and cancel behind it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from engine.access.roles import PermissionDenied
from engine.db import Database, session_scope
from engine.models import AuditLog, User, Workflow, WorkflowExecution
from engine.services.blast_radius import preview_cancel, preview_retry
from engine.services.control import cancel_executions, retry_executions
from engine.services.workflows import save_document

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MISSING = "00000000-0000-7000-8000-999999999999"


def eid(number: int) -> str:
    """A fixed execution id."""
    return f"00000000-0000-7000-8000-{number:012d}"


def action(kind: str) -> dict[str, Any]:
    """A valid action of ``kind``."""
    actions: dict[str, dict[str, Any]] = {
        "slack": {"type": "slack", "channel": "#ops", "text": "hi"},
        "email": {"type": "email", "to": ["a@example.com"], "subject": "s", "body": "b"},
        "sms": {"type": "sms", "to": "+15550100", "body": "b"},
        "teams": {"type": "teams", "title": "t", "text": "x"},
        "webhook": {"type": "webhook", "method": "POST", "url": "https://example.com/h"},
        "create_task": {"type": "create_task", "title": "t"},
        "create_invoice": {"type": "create_invoice", "customer": "c", "amount": 1},
    }
    return actions[kind]


def save(db: Database, name: str, kinds: list[str]) -> None:
    """Save (or change, bumping the version) a workflow with actions of ``kinds``."""
    document = {
        "name": name,
        "triggers": [{"type": "manual"}],
        "actions": [action(k) for k in kinds],
    }
    save_document(db, document, actor="tester")


class RecordingQueue:
    """A dispatcher that remembers what it was told to run."""

    def __init__(self) -> None:
        self.dispatched: list[str] = []

    def dispatch(self, execution_id: str, delay: float | None = None) -> None:
        self.dispatched.append(execution_id)


@pytest.fixture
def db(any_db: Database) -> Database:
    """Executions of two workflows (one changed since) at known steps, and three users."""
    save(any_db, "alpha", ["slack", "email", "create_task"])  # version 1
    save(any_db, "alpha", ["slack", "webhook"])  # version 2
    save(any_db, "beta", ["sms", "teams", "create_invoice", "email"])
    # (number, workflow, version, status, next_step)
    rows = [
        (1, "alpha", 1, "FAILED", 1),
        (2, "alpha", 2, "FAILED", 0),
        (3, "beta", 1, "CANCELLED", 2),
        (4, "beta", 1, "SUCCESS", 4),
        (5, "beta", 1, "RUNNING", 1),
        (6, "alpha", 2, "PENDING", 0),
    ]
    with session_scope(any_db) as session:
        by_name = {w.name: w.id for w in session.exec(select(Workflow))}
        for number, workflow, version, status, next_step in rows:
            session.add(
                WorkflowExecution(
                    id=eid(number), workflow_id=by_name[workflow], workflow_version=version,
                    status=status, trigger_type="manual", next_step=next_step,
                    created_at=T0 - timedelta(minutes=number), available_at=T0,
                    duration_ms=100.0 if status in ("FAILED", "SUCCESS") else None,
                )
            )  # fmt: skip
        session.add(User(username="olga", role="OPERATOR"))
        session.add(User(username="vic", role="VIEWER"))
    return any_db


def execution_audit(session: Session) -> list[AuditLog]:
    """The audit rows about executions, by target id."""
    query = select(AuditLog).where(AuditLog.target_type == "execution")
    return list(session.exec(query.order_by(col(AuditLog.target_id))).all())


ALL = [eid(n) for n in range(1, 7)] + [MISSING, eid(1)]


def test_retry_preview_counts_executions_actions_and_kept_steps(db: Database) -> None:
    radius = preview_retry(db, ALL)
    assert radius.action == "retry"
    assert radius.requested == 7  # the repeated id counts once
    assert radius.ids == (eid(1), eid(2), eid(3))
    assert radius.unchanged == {"PENDING": 1, "RUNNING": 1, "SUCCESS": 1, "missing": 1}
    # e1 resumes v1 at step 1 (email, create_task); e2 runs v2 from the start (slack,
    # webhook); e3 resumes at step 2 (create_invoice, email).
    assert radius.actions == {
        "email": 2, "create_invoice": 1, "create_task": 1, "slack": 1, "webhook": 1,
    }  # fmt: skip
    assert radius.messages == 4
    assert radius.finished_steps == 3
    assert radius.skipped == 4


def test_cancel_preview_counts_what_will_no_longer_run(db: Database) -> None:
    radius = preview_cancel(db, ALL)
    assert radius.ids == (eid(5), eid(6))
    assert radius.unchanged == {"CANCELLED": 1, "FAILED": 2, "SUCCESS": 1, "missing": 1}
    # e5 is RUNNING step 1 (teams), which finishes; create_invoice and email do not run.
    assert radius.actions == {"create_invoice": 1, "email": 1, "slack": 1, "webhook": 1}
    assert radius.running == 1
    assert radius.messages == 3
    assert radius.finished_steps == 1


def test_a_preview_of_nothing_retryable_changes_nothing(db: Database) -> None:
    radius = preview_retry(db, [eid(4), eid(6)])
    assert (radius.changes, radius.actions, radius.finished_steps) == (0, {}, 0)
    assert radius.unchanged == {"PENDING": 1, "SUCCESS": 1}


def test_the_preview_agrees_with_what_the_retry_does(db: Database) -> None:
    radius = preview_retry(db, ALL)
    queue = RecordingQueue()
    retried = retry_executions(db, queue, ALL, actor="olga", strict=False, check_role=True)
    assert sorted(retried) == sorted(radius.ids)
    assert sorted(queue.dispatched) == sorted(radius.ids)
    with session_scope(db) as session:
        states = {e.id: (e.status, e.next_step) for e in session.exec(select(WorkflowExecution))}
        audit = execution_audit(session)
    assert states[eid(1)] == ("PENDING", 1)  # resumes where it stopped
    assert states[eid(4)] == ("SUCCESS", 4)
    assert [(a.actor, a.action, a.target_id) for a in audit] == [
        ("olga", "execution.retry", eid(n)) for n in (1, 2, 3)
    ]


def test_a_strict_retry_still_refuses_an_unretryable_id(db: Database) -> None:
    from engine.services.control import NotRetryable

    with pytest.raises(NotRetryable):
        retry_executions(db, RecordingQueue(), [eid(1), eid(4)], actor="olga")


def test_a_viewer_can_neither_retry_nor_cancel(db: Database) -> None:
    queue = RecordingQueue()
    with pytest.raises(PermissionDenied, match="needs OPERATOR"):
        retry_executions(db, queue, [eid(1)], actor="vic", strict=False, check_role=True)
    with pytest.raises(PermissionDenied, match="needs OPERATOR"):
        cancel_executions(db, [eid(6)], actor="vic", check_role=True)
    with pytest.raises(PermissionDenied):  # nobody we know is a viewer too
        cancel_executions(db, [eid(6)], actor="stranger", check_role=True)
    with session_scope(db) as session:
        statuses = {e.id: e.status for e in session.exec(select(WorkflowExecution))}
        assert execution_audit(session) == []
    assert (statuses[eid(1)], statuses[eid(6)]) == ("FAILED", "PENDING")
    assert queue.dispatched == []


def test_an_operator_cancel_writes_one_audit_row_per_change(db: Database) -> None:
    results = cancel_executions(db, [eid(5), eid(6), eid(4)], actor="olga", check_role=True)
    assert [(r.id, r.outcome) for r in results] == [
        (eid(5), "cancel requested"), (eid(6), "cancelled"), (eid(4), "already SUCCESS"),
    ]  # fmt: skip
    with session_scope(db) as session:
        audit = execution_audit(session)
    assert [(a.actor, a.action, a.target_id) for a in audit] == [
        ("olga", "execution.cancel", eid(5)), ("olga", "execution.cancel", eid(6)),
    ]  # fmt: skip


def test_a_retry_reads_its_ids_in_chunks(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # Chunks of 2 across 8 ids (one missing, one repeated) behave like one big read: the
    # drivers cap bound parameters per statement (65,535 on PostgreSQL).
    monkeypatch.setattr("engine.services.control.ID_CHUNK", 2)
    queue = RecordingQueue()
    retried = retry_executions(db, queue, ALL, actor="olga", strict=False)
    assert sorted(retried) == [eid(1), eid(2), eid(3)]
    with pytest.raises(Exception, match=MISSING):
        retry_executions(db, queue, [MISSING, eid(4)], actor="olga")
