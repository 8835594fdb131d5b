"""Failure clusters on SQLite and PostgreSQL: which failures group together, their counts,
first and last sightings and transient flags; a cluster's executions; retrying them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from engine.access.roles import PermissionDenied
from engine.db import Database, session_scope
from engine.models import (
    AuditLog,
    User,
    Workflow,
    WorkflowExecution,
    WorkflowExecutionStep,
)
from engine.services.failures import (
    NO_ACTION,
    ClusterKey,
    FailureCluster,
    cluster_execution_ids,
    cluster_executions,
    list_failure_clusters,
    retry_failed,
)
from engine.services.workflows import save_document

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=24)


class RecordingQueue:
    """A dispatcher that remembers what it was asked to enqueue."""

    def __init__(self) -> None:
        self.dispatched: list[str] = []

    def dispatch(self, execution_id: str, delay: float | None = None) -> None:
        self.dispatched.append(execution_id)


def eid(number: int) -> str:
    return f"00000000-0000-7000-8000-{number:012d}"


def add_workflow(db: Database, name: str, actions: list[str]) -> str:
    workflow = Workflow(
        name=name, triggers=[{"type": "manual"}], actions=[{"type": kind} for kind in actions]
    )
    with session_scope(db) as session:
        session.add(workflow)
    return workflow.id


def add_run(
    db: Database,
    workflow_id: str,
    number: int,
    *,
    minutes_ago: float,
    error: str | None,
    status: str = "FAILED",
    next_step: int = 0,
    steps: tuple[tuple[int, str, str], ...] = (),
) -> None:
    """One execution created ``minutes_ago`` before NOW, finished 30 s later."""
    created = NOW - timedelta(minutes=minutes_ago)
    with session_scope(db) as session:
        session.add(
            WorkflowExecution(
                id=eid(number),
                workflow_id=workflow_id,
                status=status,
                trigger_type="manual",
                error=error,
                created_at=created,
                started_at=created,
                completed_at=created + timedelta(seconds=30),
                duration_ms=30_000.0,
                available_at=created,
                next_step=next_step,
                retry_count=1,
            )
        )
        session.flush()
        for index, kind, step_status in steps:
            session.add(
                WorkflowExecutionStep(
                    execution_id=eid(number),
                    step_index=index,
                    action_type=kind,
                    status=step_status,
                    error=error if step_status == "FAILED" else None,
                )
            )


def http_503(n: int) -> str:
    return f"step 1 (webhook): HTTP 503 from https://erp.example.com/hook/{n}?id={n} after 4 tries"


def seed(db: Database) -> dict[str, str]:
    billing = add_workflow(db, "billing", ["slack", "webhook", "email"])
    reports = add_workflow(db, "reports", ["webhook", "create_task"])
    ok_then_fail = (0, "slack", "SUCCESS"), (1, "webhook", "FAILED")
    for number, minutes in ((1, 5), (2, 65), (3, 600)):
        add_run(db, billing, number, minutes_ago=minutes, error=http_503(number),
                next_step=1, steps=ok_then_fail)  # fmt: skip
    for number, minutes in ((4, 10), (5, 20)):
        add_run(
            db,
            billing,
            number,
            minutes_ago=minutes,
            next_step=1,
            steps=ok_then_fail,
            error=f"step 1 (webhook): HTTP 404 from https://erp.example.com/hook/{number}",
        )
    # Same error in another workflow: another cluster.
    add_run(db, reports, 6, minutes_ago=30, error=http_503(6), next_step=0,
            steps=((0, "webhook", "FAILED"),))  # fmt: skip
    # A continued failure at step 0 is not the failing step; step 1 is.
    add_run(
        db,
        reports,
        7,
        minutes_ago=40,
        next_step=1,
        steps=((0, "webhook", "FAILED"), (1, "create_task", "FAILED")),
        error="step 1 (create_task): missing value for 'trigger.owner': no key 'owner'",
    )
    # No step row: the workflow's action where it stopped, else "—".
    add_run(db, billing, 8, minutes_ago=50, error="worker lost", next_step=2)
    add_run(db, billing, 9, minutes_ago=55, error="worker lost", next_step=7)
    # Outside the window, or not FAILED: not counted.
    add_run(db, billing, 10, minutes_ago=25 * 60, error=http_503(10), next_step=1,
            steps=ok_then_fail)  # fmt: skip
    add_run(db, billing, 11, minutes_ago=1, error=http_503(11), status="PENDING", next_step=1)
    return {"billing": billing, "reports": reports}


def summary(cluster: FailureCluster) -> tuple[Any, ...]:
    return (
        cluster.workflow,
        cluster.action_type,
        cluster.signature,
        cluster.count,
        cluster.first_seen,
        cluster.last_seen,
        cluster.transient,
    )


def seen(minutes_ago: float) -> datetime:
    return NOW - timedelta(minutes=minutes_ago) + timedelta(seconds=30)


def test_failures_cluster_by_workflow_action_and_signature(any_db: Database) -> None:
    seed(any_db)
    clusters = list_failure_clusters(any_db, since=SINCE)
    signature_503 = "HTTP 503 from https://erp.example.com/hook/#?… after # tries"
    assert [summary(c) for c in clusters] == [
        ("billing", "webhook", signature_503, 3, seen(600), seen(5), True),
        ("billing", "webhook", "HTTP 404 from https://erp.example.com/hook/#", 2, seen(20),
         seen(10), False),
        ("reports", "webhook", signature_503, 1, seen(30), seen(30), True),
        ("reports", "create_task", "missing value for '…': no key '…'", 1, seen(40), seen(40),
         False),
        ("billing", "email", "worker lost", 1, seen(50), seen(50), True),
        ("billing", NO_ACTION, "worker lost", 1, seen(55), seen(55), True),
    ]  # fmt: skip


def test_a_cluster_keeps_one_full_message_as_its_sample(any_db: Database) -> None:
    seed(any_db)
    top = list_failure_clusters(any_db, since=SINCE)[0]
    assert top.sample_error in {http_503(1), http_503(2), http_503(3)}


def test_the_window_and_limit_bound_the_clusters(any_db: Database) -> None:
    seed(any_db)
    last_hour = list_failure_clusters(any_db, since=NOW - timedelta(hours=1))
    assert [(c.workflow, c.action_type, c.count) for c in last_hour] == [
        ("billing", "webhook", 2),
        ("billing", "webhook", 1),
        ("reports", "webhook", 1),
        ("reports", "create_task", 1),
        ("billing", "email", 1),
        ("billing", NO_ACTION, 1),
    ]
    assert [c.count for c in list_failure_clusters(any_db, since=SINCE, limit=2)] == [3, 2]
    assert list_failure_clusters(any_db, since=NOW) == []


def test_cluster_execution_ids_are_exactly_the_clusters_newest_first(any_db: Database) -> None:
    seed(any_db)
    clusters = list_failure_clusters(any_db, since=SINCE)
    ids = {
        (c.workflow, c.action_type, c.count): cluster_execution_ids(any_db, c.key, since=SINCE)
        for c in clusters
    }
    assert ids == {
        ("billing", "webhook", 3): [eid(1), eid(2), eid(3)],
        ("billing", "webhook", 2): [eid(4), eid(5)],
        ("reports", "webhook", 1): [eid(6)],
        ("reports", "create_task", 1): [eid(7)],
        ("billing", "email", 1): [eid(8)],
        ("billing", NO_ACTION, 1): [eid(9)],
    }
    unknown = ClusterKey(clusters[0].key.workflow_id, "webhook", "no such signature")
    assert cluster_execution_ids(any_db, unknown, since=SINCE) == []


def test_cluster_executions_come_back_as_rows_in_the_order_asked(any_db: Database) -> None:
    seed(any_db)
    rows = cluster_executions(any_db, [eid(3), eid(1), "missing-id", eid(6)])
    assert [(r.id, r.workflow, r.status) for r in rows] == [
        (eid(3), "billing", "FAILED"),
        (eid(1), "billing", "FAILED"),
        (eid(6), "reports", "FAILED"),
    ]
    assert rows[0].error == http_503(3)


def add_user(db: Database, username: str, role: str) -> None:
    with session_scope(db) as session:
        session.add(User(username=username, role=role))


def test_retry_failed_retries_what_is_still_failed_with_audit_rows(any_db: Database) -> None:
    seed(any_db)
    add_user(any_db, "olga", "OPERATOR")
    queue = RecordingQueue()
    retried = retry_failed(any_db, queue, [eid(1), eid(2), eid(11)], actor="olga")
    assert retried == [eid(1), eid(2)]
    assert queue.dispatched == [eid(1), eid(2)]
    with any_db.session() as session:
        statuses = dict(
            session.exec(
                select(WorkflowExecution.id, WorkflowExecution.status).where(
                    col(WorkflowExecution.id).in_([eid(1), eid(2), eid(3), eid(11)])
                )
            ).all()
        )
        audit = session.exec(select(AuditLog.actor, AuditLog.action, AuditLog.target_id)).all()
    assert statuses == {eid(1): "PENDING", eid(2): "PENDING", eid(3): "FAILED", eid(11): "PENDING"}
    assert sorted(audit) == [
        ("olga", "execution.retry", eid(1)),
        ("olga", "execution.retry", eid(2)),
    ]
    clusters = list_failure_clusters(any_db, since=SINCE)
    assert (clusters[0].signature.startswith("HTTP 404"), clusters[0].count) == (True, 2)
    assert retry_failed(any_db, queue, [eid(1)], actor="olga") == []


def test_a_viewer_cannot_retry_a_cluster(any_db: Database) -> None:
    seed(any_db)
    add_user(any_db, "vera", "VIEWER")
    queue = RecordingQueue()
    with pytest.raises(PermissionDenied, match="needs OPERATOR"):
        retry_failed(any_db, queue, [eid(1), eid(2)], actor="vera")
    assert queue.dispatched == []
    with any_db.session() as session:
        assert session.exec(select(AuditLog)).all() == []
    assert list_failure_clusters(any_db, since=SINCE)[0].count == 3


def test_retry_failed_handles_more_ids_than_one_statement_takes(sqlite_db: Database) -> None:
    add_user(sqlite_db, "olga", "OPERATOR")
    workflow = add_workflow(sqlite_db, "bulk", ["webhook"])
    with session_scope(sqlite_db) as session:
        for number in range(1, 1201):
            created = NOW - timedelta(seconds=number)
            session.add(
                WorkflowExecution(
                    id=eid(number), workflow_id=workflow, status="FAILED",
                    trigger_type="manual", error="HTTP 500", created_at=created,
                    available_at=created,
                )
            )  # fmt: skip
    ids = [eid(n) for n in range(1, 1201)]
    assert (
        cluster_execution_ids(
            sqlite_db, list_failure_clusters(sqlite_db, since=SINCE)[0].key, since=SINCE
        )
        == ids
    )
    assert len(retry_failed(sqlite_db, RecordingQueue(), ids, actor="olga")) == 1200
    assert list_failure_clusters(sqlite_db, since=SINCE) == []


def test_the_failing_action_is_read_from_the_version_the_run_used(any_db: Database) -> None:
    def document(actions: list[str]) -> dict[str, Any]:
        return {"name": "versioned", "triggers": [{"type": "manual"}],
                "actions": [{"type": "create_task", "title": "t"} if kind == "create_task"
                            else {"type": "slack", "channel": "#c", "text": "x"}
                            for kind in actions]}  # fmt: skip

    save_document(any_db, document(["slack", "create_task"]), actor="t")
    save_document(any_db, document(["create_task", "slack"]), actor="t")
    with any_db.session() as session:
        workflow_id = session.exec(select(Workflow.id).where(Workflow.name == "versioned")).one()
    for number, version in ((1, 1), (2, 2)):
        add_run(any_db, workflow_id, number, minutes_ago=number, error="boom", next_step=1)
        with session_scope(any_db) as session:
            execution = session.get(WorkflowExecution, eid(number))
            assert execution is not None
            execution.workflow_version = version
    clusters = list_failure_clusters(any_db, since=SINCE)
    assert sorted((c.action_type, c.count) for c in clusters) == [
        ("create_task", 1),
        ("slack", 1),
    ]
    by_type = {c.action_type: c for c in clusters}
    assert cluster_execution_ids(any_db, by_type["create_task"].key, since=SINCE) == [eid(1)]
    assert cluster_execution_ids(any_db, by_type["slack"].key, since=SINCE) == [eid(2)]
