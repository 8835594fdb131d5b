"""``/api/workflows`` against a live server, on SQLite and PostgreSQL: routes, roles, audit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.db import Database
from engine.models import Role
from engine.services.workflows import export_documents, list_workflows
from tests.api_client import PEOPLE, Api, running_api


def definition(name: str = "greet", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "enabled": True,
        "triggers": [{"type": "manual"}],
        "actions": [{"type": "create_task", "title": "hello {{ trigger.who }}"}],
        **extra,
    }


@pytest.fixture
def api(any_db: Database, tmp_path: Path) -> Iterator[Api]:
    yield from running_api(any_db, tmp_path)


def test_create_get_list_and_update_a_workflow(api: Api) -> None:
    created = api.post("/workflows", json=definition())
    assert created.status_code == 201, created.text
    assert created.json() == {"name": "greet", "version": 1, "outcome": "created"}
    assert created.headers["location"] == "/api/workflows/greet"
    one = api.get("/workflows/greet").json()
    assert (one["name"], one["enabled"], one["version"]) == ("greet", True, 1)
    assert one["definition"]["actions"][0]["title"] == "hello {{ trigger.who }}"
    assert [w["name"] for w in api.get("/workflows").json()["workflows"]] == ["greet"]
    updated = api.call("PUT", "/workflows/greet", Role.ADMIN, json=definition(priority=9))
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2
    assert export_documents(api.db, "greet")[0]["priority"] == 9


def test_changes_are_audited_with_the_tokens_user(api: Api) -> None:
    api.post("/workflows", json=definition())
    api.call("PUT", "/workflows/greet", Role.ADMIN, json=definition(priority=1))
    api.post("/workflows/greet/disable")
    api.post("/workflows/greet/enable")
    api.post("/workflows/greet/run", role=Role.OPERATOR)
    api.call("DELETE", "/workflows/greet", Role.ADMIN)
    admin, operator = PEOPLE[Role.ADMIN], PEOPLE[Role.OPERATOR]
    for action, actor in [
        ("workflow.create", admin),
        ("workflow.update", admin),
        ("workflow.disable", admin),
        ("workflow.enable", admin),
        ("workflow.run", operator),
        ("workflow.delete", admin),
    ]:
        assert [row.actor for row in api.audit(action)] == [actor], action


def test_enable_disable_and_run(api: Api) -> None:
    api.post("/workflows", json=definition())
    assert api.post("/workflows/greet/disable").json() == {
        "name": "greet", "enabled": False, "changed": True,
    }  # fmt: skip
    refused = api.post("/workflows/greet/run", role=Role.OPERATOR)
    assert refused.status_code == 409 and "disabled" in refused.json()["error"]
    assert api.post("/workflows/greet/enable").json()["changed"] is True
    run = api.post("/workflows/greet/run", role=Role.OPERATOR, json={"data": {"who": "Ann"}})
    assert run.status_code == 202, run.text
    (execution_id,) = run.json()["executions"]
    detail = api.get(f"/executions/{execution_id}").json()
    assert (detail["trigger_type"], detail["trigger_data"]) == ("manual", {"who": "Ann"})


def test_delete_removes_the_workflow(api: Api) -> None:
    api.post("/workflows", json=definition())
    answer = api.call("DELETE", "/workflows/greet", Role.ADMIN)
    assert answer.status_code == 200
    assert answer.json() == {"name": "greet", "deleted": True, "executions_deleted": 0}
    assert list_workflows(api.db) == []
    assert api.get("/workflows/greet").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/workflows", Role.VIEWER),
        ("GET", "/workflows/greet", Role.VIEWER),
        ("POST", "/workflows/greet/run", Role.OPERATOR),
        ("POST", "/workflows/greet/disable", Role.ADMIN),
        ("PUT", "/workflows/greet", Role.ADMIN),
        ("DELETE", "/workflows/greet", Role.ADMIN),
    ],
)
def test_each_route_needs_its_role(api: Api, method: str, path: str, allowed: Role) -> None:
    api.post("/workflows", json=definition())
    roles = list(Role)
    for role in roles[: roles.index(allowed)]:
        refused = api.call(method, path, role, json=definition())
        assert refused.status_code == 403, (role, refused.text)
        assert f"needs {allowed.value}" in refused.json()["error"]
    answer = api.call(method, path, allowed, json=definition())
    assert answer.status_code < 300, answer.text


def test_a_viewer_cannot_create_and_nothing_is_written(api: Api) -> None:
    assert api.post("/workflows", role=Role.OPERATOR, json=definition()).status_code == 403
    assert api.post("/workflows", role=Role.VIEWER, json=definition()).status_code == 403
    assert list_workflows(api.db) == []
    assert api.audit("workflow.create") == []


def test_definition_errors_name_the_json_path(api: Api) -> None:
    bad = definition(actions=[{"type": "webhook", "url": "not a url"}])
    answer = api.post("/workflows", json=bad)
    assert answer.status_code == 400
    body = answer.json()
    assert body["field"] == "actions[0].url"
    assert body["error"].startswith("actions[0].url:")
    assert body["errors"][0]["path"] == "actions[0].url"


def test_renames_and_taken_names_are_refused(api: Api) -> None:
    api.post("/workflows", json=definition())
    taken = api.post("/workflows", json=definition())
    assert taken.status_code == 409 and taken.json()["field"] == "name"
    rename = api.call("PUT", "/workflows/greet", Role.ADMIN, json=definition("other"))
    assert rename.status_code == 400 and rename.json()["field"] == "name"
    missing = api.call("PUT", "/workflows/nope", Role.ADMIN, json=definition("nope"))
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/workflows", b"{not json", 400),
        ("POST", "/workflows", b"[1, 2]", 400),
        ("POST", "/workflows", b"", 400),
        ("POST", "/workflows", b"\xff\xfe", 400),
        ("POST", "/workflows", b"[" * 100_000, 400),
        ("POST", "/workflows", b"x" * (1024 * 1024 + 1), 413),
        ("POST", "/workflows", b'{"name": 5}', 400),
        ("PUT", "/workflows/greet", b"null", 400),
        ("POST", "/workflows/greet/run", b'{"data": [1]}', 400),
        ("POST", "/workflows/greet/run", b'"text"', 400),
        ("POST", "/workflows/nope/run", b"", 404),
        ("POST", "/workflows/nope/enable", b"", 404),
        ("DELETE", "/workflows/nope", b"", 404),
        ("GET", "/workflows/%00%ff", b"", 400),
        ("GET", "/workflows/%ff", b"", 400),  # not UTF-8: no name can be that
        ("POST", "/workflows", b'{"name": "a\\u0000", "triggers": [], "actions": []}', 400),
        ("POST", "/workflows/greet/run", b'{"data": {"x": ["\\u0000"]}}', 400),
    ],
)
def test_bad_input_gets_a_json_error_never_a_500(
    api: Api, method: str, path: str, body: bytes, status: int | tuple[int, ...]
) -> None:
    api.post("/workflows", json=definition())
    answer = api.call(method, path, Role.SUPER_ADMIN, content=body)
    expected = status if isinstance(status, tuple) else (status,)
    assert answer.status_code in expected, answer.text
    if answer.status_code >= 400:
        assert isinstance(answer.json()["error"], str)
