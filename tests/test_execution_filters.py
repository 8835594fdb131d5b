"""list_executions filters (status, workflow, trigger, time range, error text) and keyset
paging under them, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from engine.db import Database, session_scope
from engine.models import Workflow, WorkflowExecution
from engine.services.executions import cursor_of, list_executions
from engine.services.workflows import save_document

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WORKFLOWS = ("invoice-alert", "Monthly-Invoicing", "nightly-report", "50%_off")
# (number, workflow, status, trigger, minutes before T0, error)
ROWS = [
    (1, "invoice-alert", "FAILED", "webhook", 0, "SMTP timeout after 30s"),
    (2, "invoice-alert", "SUCCESS", "manual", 10, None),
    (3, "Monthly-Invoicing", "FAILED", "schedule", 20, "Slack API error: channel_not_found"),
    (4, "nightly-report", "FAILED", "schedule", 30, "smtp 421 closing channel"),
    (5, "nightly-report", "CANCELLED", "manual", 40, "cancelled"),
    (6, "invoice-alert", "PENDING", "event", 60 * 25, "step 1 (webhook): HTTP 503"),
    (7, "Monthly-Invoicing", "SUCCESS", "event", 60 * 26, None),
    (8, "50%_off", "FAILED", "manual", 60 * 48, "100% of quota used_up"),
]


def eid(number: int) -> str:
    """The fixed id of row ``number`` (ids order like their creation times)."""
    return f"00000000-0000-7000-8000-{number:012d}"


def ids(*numbers: int) -> list[str]:
    """Fixed ids, in the order given."""
    return [eid(n) for n in numbers]


@pytest.fixture
def db(any_db: Database) -> Database:
    """Four workflows and eight executions with known statuses, triggers, times, errors."""
    for name in WORKFLOWS:
        document = {
            "name": name,
            "triggers": [{"type": "manual"}],
            "actions": [{"type": "create_task", "title": "t"}],
        }
        save_document(any_db, document, actor="tester")
    with session_scope(any_db) as session:
        by_name = {w.name: w.id for w in session.exec(select(Workflow))}
        for number, workflow, status, trigger, minutes, error in ROWS:
            created = T0 - timedelta(minutes=minutes)
            session.add(
                WorkflowExecution(
                    id=eid(number),
                    workflow_id=by_name[workflow],
                    status=status,
                    trigger_type=trigger,
                    error=error,
                    created_at=created,
                    available_at=created,
                )
            )
    return any_db


def listed(db: Database, **query: Any) -> list[str]:
    """The ids ``list_executions`` returns for ``query``."""
    return [row.id for row in list_executions(db, limit=query.pop("limit", 50), **query)]


def test_no_filter_lists_everything_newest_first(db: Database) -> None:
    assert listed(db) == ids(1, 2, 3, 4, 5, 6, 7, 8)


def test_trigger_type_filter(db: Database) -> None:
    assert listed(db, trigger_type="schedule") == ids(3, 4)
    assert listed(db, trigger_type="manual") == ids(2, 5, 8)


def test_since_is_inclusive_and_until_exclusive(db: Database) -> None:
    assert listed(db, since=T0 - timedelta(minutes=30)) == ids(1, 2, 3, 4)
    assert listed(db, until=T0 - timedelta(minutes=30)) == ids(5, 6, 7, 8)
    window = {"since": T0 - timedelta(hours=26), "until": T0 - timedelta(minutes=10)}
    assert listed(db, **window) == ids(3, 4, 5, 6, 7)


def test_error_text_is_a_case_insensitive_substring(db: Database) -> None:
    assert listed(db, error_contains="smtp") == ids(1, 4)
    assert listed(db, error_contains="CHANNEL") == ids(3, 4)
    assert listed(db, error_contains="nothing like it") == []


def test_error_text_wildcards_are_literal(db: Database) -> None:
    assert listed(db, error_contains="100%") == ids(8)
    assert listed(db, error_contains="d_u") == ids(8)  # "_" is not "any character"
    assert listed(db, error_contains="%") == ids(8)


def test_workflow_exact_name(db: Database) -> None:
    assert listed(db, workflow="invoice-alert") == ids(1, 2, 6)
    assert listed(db, workflow="invoice") == []


def test_workflow_contains_any_case(db: Database) -> None:
    assert listed(db, workflow_contains="INVOIC") == ids(1, 2, 3, 6, 7)
    assert listed(db, workflow_contains="report") == ids(4, 5)
    assert listed(db, workflow_contains="0%_") == ids(8)
    assert listed(db, workflow_contains="no such workflow") == []


def test_filters_combine(db: Database) -> None:
    assert listed(db, status="FAILED", workflow_contains="invoic") == ids(1, 3)
    assert listed(db, status="FAILED", trigger_type="schedule", error_contains="smtp") == ids(4)
    assert listed(db, workflow_contains="invoic", since=T0 - timedelta(hours=25)) == ids(1, 2, 3, 6)
    query = {
        "status": "FAILED",
        "until": T0,
        "error_contains": "channel",
        "trigger_type": "schedule",
    }
    assert listed(db, **query) == ids(3, 4)
    assert listed(db, status="SUCCESS", error_contains="smtp") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, [1, 2, 3, 4, 5, 6, 7, 8]),
        ({"status": "FAILED"}, [1, 3, 4, 8]),
        ({"workflow_contains": "invoic"}, [1, 2, 3, 6, 7]),
        ({"trigger_type": "manual"}, [2, 5, 8]),
        ({"error_contains": "T"}, [1, 3, 4, 6, 8]),
        ({"since": T0 - timedelta(hours=30), "until": T0}, [2, 3, 4, 5, 6, 7]),
    ],
    ids=["all", "status", "workflow", "trigger", "error", "time"],
)
def test_keyset_pages_of_two_cover_a_filter_exactly_once(
    db: Database, query: dict[str, Any], expected: list[int]
) -> None:
    pages: list[list[str]] = []
    after = None
    while True:
        page = list_executions(db, limit=2, after=after, **query)
        if not page:
            break
        pages.append([row.id for row in page])
        after = cursor_of(page[-1])
    assert [i for page in pages for i in page] == ids(*expected)
    assert all(len(page) == 2 for page in pages[:-1])


def test_keyset_continues_between_rows_created_at_the_same_moment(db: Database) -> None:
    with session_scope(db) as session:
        workflow = session.exec(select(Workflow).where(Workflow.name == "nightly-report")).one()
        for number in (20, 21, 22):
            session.add(
                WorkflowExecution(
                    id=eid(number), workflow_id=workflow.id, status="FAILED",
                    trigger_type="manual", created_at=T0 + timedelta(hours=1),
                    available_at=T0, error="same moment",
                )
            )  # fmt: skip
    first = list_executions(db, error_contains="same moment", limit=2)
    rest = list_executions(db, error_contains="same moment", limit=2, after=cursor_of(first[-1]))
    assert [r.id for r in first + rest] == ids(22, 21, 20)
