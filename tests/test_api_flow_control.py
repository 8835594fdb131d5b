"""``/api/workflows/{name}/pause | resume | limit | flow`` against a live server, on SQLite
and PostgreSQL: what they do, the roles they need, the audit rows they write."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.db import Database
from engine.execution.claims import E
from engine.models import Role
from engine.services.executions import list_executions
from tests.api_client import PEOPLE, Api, running_api

FLOW = {"name": "greet", "enabled": True, "triggers": [{"type": "manual"}],
        "actions": [{"type": "create_task", "title": "hello"}]}  # fmt: skip


@pytest.fixture
def api(any_db: Database, tmp_path: Path) -> Iterator[Api]:
    for running in running_api(any_db, tmp_path):
        assert running.post("/workflows", json=FLOW).status_code == 201
        yield running


def test_pause_holds_runs_and_resume_latest_cancels_all_but_the_newest(api: Api) -> None:
    paused = api.post("/workflows/greet/pause", Role.OPERATOR)
    assert paused.status_code == 200, paused.text
    assert (paused.json()["paused"], paused.json()["changed"]) == (True, True)
    for _ in range(3):
        assert api.post("/workflows/greet/run", Role.OPERATOR).status_code == 202
    flow = api.get("/workflows/greet/flow").json()
    assert (flow["paused"], flow["paused_by"], flow["held"]) == (True, PEOPLE[Role.OPERATOR], 3)
    assert flow["policies"]["latest"] == {
        "start": 1, "cancel": 2,
        "description": "run the newest, cancel 2 ('superseded on resume')",
    }  # fmt: skip
    listed = api.get("/executions").json()["executions"]
    assert {row["waiting"] for row in listed} == {"paused"}

    resumed = api.post("/workflows/greet/resume?catch_up=latest", Role.OPERATOR)
    assert resumed.json() == {
        "workflow": "greet", "was_paused": True, "catch_up": "latest", "held": 3,
        "started": 1, "cancelled": 2, "spread_until": None,
    }  # fmt: skip
    rows = list_executions(api.db, workflow="greet")
    assert sorted((r.status, r.error) for r in rows) == [
        ("CANCELLED", "superseded on resume"), ("CANCELLED", "superseded on resume"),
        ("PENDING", None),
    ]  # fmt: skip
    assert rows[0].status == "PENDING"  # the newest is the one kept
    assert [a.actor for a in api.audit("workflow.pause")] == [PEOPLE[Role.OPERATOR]]
    assert [a.details["cancelled"] for a in api.audit("workflow.resume")] == [2]  # type: ignore[index]


def test_resume_spread_staggers_the_held_runs(api: Api) -> None:
    api.post("/workflows/greet/pause", Role.OPERATOR)
    for _ in range(4):
        api.post("/workflows/greet/run", Role.OPERATOR)
    resumed = api.post("/workflows/greet/resume?catch_up=spread:1h", Role.OPERATOR).json()
    assert (resumed["started"], resumed["catch_up"]) == (4, "spread:1h")
    with api.db.engine.connect() as conn:
        due = conn.execute(sa.select(E.available_at).order_by(E.created_at, E.id)).scalars().all()
    # Oldest first, 15 minutes apart over the hour: the first is due now, the others wait.
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(due)]
    assert gaps == [900.0, 900.0, 900.0]
    flow = api.get("/workflows/greet/flow").json()
    assert (flow["paused"], flow["held"]) == (False, 4)


def test_limits_need_admin_and_bad_values_name_their_parameter(api: Api) -> None:
    refused = api.post("/workflows/greet/limit?concurrency=2", Role.OPERATOR)
    assert refused.status_code == 403 and "needs ADMIN" in refused.json()["error"]
    viewer = api.post("/workflows/greet/pause", Role.VIEWER)
    assert viewer.status_code == 403 and "needs OPERATOR" in viewer.json()["error"]
    for query, field in [("concurrency=0", "concurrency"), ("rate=5/h", "rate"),
                         ("concurrency=2&for=5y", "for"), ("", "concurrency")]:  # fmt: skip
        answer = api.post(f"/workflows/greet/limit?{query}")
        assert (answer.status_code, answer.json()["field"]) == (400, field), answer.text
    bad = api.post("/workflows/greet/resume?catch_up=newest", Role.OPERATOR)
    assert (bad.status_code, bad.json()["field"]) == (400, "catch_up")
    assert api.post("/workflows/nope/pause", Role.OPERATOR).status_code == 404

    limited = api.post("/workflows/greet/limit?concurrency=2&rate=10/m&for=1h")
    assert limited.status_code == 200, limited.text
    state = limited.json()
    assert (state["concurrency"], state["rate"], state["override"]["by"]) == (
        2, "10/m", PEOPLE[Role.ADMIN],
    )  # fmt: skip
    cleared = api.call("DELETE", "/workflows/greet/limit", Role.ADMIN).json()
    assert (cleared["concurrency"], cleared["rate"], cleared["override"]["until"]) == (
        None, None, None,
    )  # fmt: skip
    assert [a.action for a in api.audit("workflow.limit")] == ["workflow.limit"]
    assert len(api.audit("workflow.limit.clear")) == 1
