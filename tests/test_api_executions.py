"""``/api/executions`` against a live server, on SQLite and PostgreSQL: filters, cursor
paging, detail with steps and logs, retry and cancel with roles and audit rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from engine.db import Database, session_scope
from engine.models import Role, WorkflowExecution, WorkflowExecutionLog, WorkflowExecutionStep
from tests.api_client import PEOPLE, Api, running_api
from tests.test_execution_filters import ROWS, T0, db, eid, ids  # noqa: F401  (fixture `db`)

OPERATOR = PEOPLE[Role.OPERATOR]


@pytest.fixture
def api(db: Database, tmp_path: Path) -> Iterator[Api]:  # noqa: F811
    """Eight known executions (see tests/test_execution_filters.py); row 1 has a step and logs."""
    with session_scope(db) as session:
        session.add(
            WorkflowExecutionStep(
                execution_id=eid(1), step_index=0, action_type="create_task", status="SUCCESS"
            )
        )
        session.add(WorkflowExecutionLog(execution_id=eid(1), message="step 0 done", step_index=0))
        session.add(WorkflowExecutionLog(execution_id=eid(1), level="ERROR", message="boom"))
    yield from running_api(db, tmp_path)


def listed(api: Api, **params: Any) -> list[str]:
    answer = api.get("/executions", params=params)
    assert answer.status_code == 200, answer.text
    return [row["id"] for row in answer.json()["executions"]]


def status_of(api: Api, number: int) -> str:
    with session_scope(api.db) as session:
        return session.exec(
            select(WorkflowExecution.status).where(WorkflowExecution.id == eid(number))
        ).one()


def test_list_is_newest_first_in_the_contract_shape(api: Api) -> None:
    body = api.get("/executions").json()
    assert [row["id"] for row in body["executions"]] == ids(1, 2, 3, 4, 5, 6, 7, 8)
    assert body["next_cursor"] is None
    first = body["executions"][0]
    assert {"id", "workflow", "status", "trigger_type", "started_at", "completed_at",
            "duration_ms", "retry_count", "error"} <= set(first)  # fmt: skip
    assert (first["workflow"], first["status"], first["error"]) == (
        "invoice-alert", "FAILED", "SMTP timeout after 30s",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "FAILED"}, [1, 3, 4, 8]),
        ({"status": "failed", "workflow": "nightly-report"}, [4]),
        ({"trigger": "schedule"}, [3, 4]),
        ({"since": (T0 - timedelta(hours=1)).isoformat()}, [1, 2, 3, 4, 5]),
        ({"until": "2024-04-30T11:00:00Z"}, [7, 8]),
        ({"error": "SMTP"}, [1, 4]),
        ({"workflow": "no-such-workflow"}, []),
    ],
)
def test_filters(api: Api, params: dict[str, str], expected: list[int]) -> None:
    assert listed(api, **params) == ids(*expected)


def test_pages_follow_the_cursor_to_the_end(api: Api) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        body = api.get("/executions", params=params).json()
        seen += [row["id"] for row in body["executions"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (ids(1, 2, 3, 4, 5, 6, 7, 8), 3)


def test_pages_keep_their_filter(api: Api) -> None:
    first = api.get("/executions", params={"status": "FAILED", "limit": "2"}).json()
    assert [r["id"] for r in first["executions"]] == ids(1, 3)
    params = {"status": "FAILED", "limit": "2", "cursor": first["next_cursor"]}
    assert listed(api, **params) == ids(4, 8)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "DONE"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "MjAyNA"}, "cursor"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2024-13-01"}, "until"),
        ({"colour": "red"}, "colour"),
        ({"workflow": "a\x00b"}, "workflow"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(
    api: Api, params: dict[str, str], field: str
) -> None:
    answer = api.get("/executions", params=params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field


def test_detail_has_steps_and_logs(api: Api) -> None:
    detail = api.get(f"/executions/{eid(1)}").json()
    assert (detail["id"], detail["status"], detail["workflow"]) == (
        eid(1), "FAILED", "invoice-alert",
    )  # fmt: skip
    assert [(s["step_index"], s["action_type"], s["status"]) for s in detail["steps"]] == [
        (0, "create_task", "SUCCESS")
    ]
    assert [(g["level"], g["message"]) for g in detail["logs"]] == [
        ("INFO", "step 0 done"), ("ERROR", "boom"),
    ]  # fmt: skip
    assert (
        api.get(f"/executions/{eid(1)}", params={"log_limit": "1"}).json()["logs"][0]["message"]
        == "step 0 done"
    )
    assert api.get("/executions/nope").status_code == 404


def test_an_operator_retries_a_failed_execution_and_is_audited(api: Api) -> None:
    answer = api.post(f"/executions/{eid(1)}/retry", role=Role.OPERATOR)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"retried": [eid(1)]}
    assert status_of(api, 1) == "PENDING"
    assert [(r.actor, r.target_id) for r in api.audit("execution.retry")] == [(OPERATOR, eid(1))]


def test_retry_refusals(api: Api) -> None:
    assert api.post(f"/executions/{eid(1)}/retry", role=Role.VIEWER).status_code == 403
    assert api.post(f"/executions/{eid(2)}/retry", role=Role.OPERATOR).status_code == 409
    assert api.post("/executions/missing/retry", role=Role.OPERATOR).status_code == 404
    assert status_of(api, 1) == "FAILED"
    assert api.audit("execution.retry") == []


def test_an_operator_cancels_a_pending_execution(api: Api) -> None:
    assert api.post(f"/executions/{eid(6)}/cancel", role=Role.VIEWER).status_code == 403
    answer = api.post(f"/executions/{eid(6)}/cancel", role=Role.OPERATOR)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"results": [{"id": eid(6), "outcome": "cancelled"}]}
    assert status_of(api, 6) == "CANCELLED"
    assert [r.actor for r in api.audit("execution.cancel")] == [OPERATOR]
    again = api.post(f"/executions/{eid(6)}/cancel", role=Role.OPERATOR)
    assert again.status_code == 409 and "already CANCELLED" in again.json()["error"]


def test_bulk_retry_is_all_or_nothing(api: Api) -> None:
    refused = api.post("/executions/retry", role=Role.OPERATOR, json={"ids": ids(1, 2)})
    assert refused.status_code == 409
    assert status_of(api, 1) == "FAILED"
    answer = api.post("/executions/retry", role=Role.OPERATOR, json={"ids": ids(1, 3, 5)})
    assert answer.status_code == 200, answer.text
    assert sorted(answer.json()["retried"]) == ids(1, 3, 5)
    assert len(api.audit("execution.retry")) == 3


def test_bulk_cancel_reports_each_outcome(api: Api) -> None:
    answer = api.post("/executions/cancel", role=Role.OPERATOR, json={"ids": ids(6, 2)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"] == [
        {"id": eid(6), "outcome": "cancelled"}, {"id": eid(2), "outcome": "already SUCCESS"},
    ]  # fmt: skip
    missing = api.post("/executions/cancel", role=Role.OPERATOR, json={"ids": ["nope"]})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "body", [b"{}", b'{"ids": []}', b'{"ids": "x"}', b'{"ids": [1]}', b"[]", b"nope"]
)
def test_bulk_bodies_are_checked(api: Api, body: bytes) -> None:
    answer = api.post("/executions/retry", role=Role.OPERATOR, content=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]
