"""``GET /api/openapi.json``: served without a token, and it describes every route."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Route

from engine.db import Database
from engine.http.api import api_mount
from engine.http.api.openapi import openapi_document
from tests.api_client import Api, running_api


@pytest.fixture
def api(sqlite_db: Database, tmp_path: Path) -> Iterator[Api]:
    yield from running_api(sqlite_db, tmp_path)


def mounted_operations() -> set[tuple[str, str]]:
    """(path, method) of every ``/api`` route but the description itself."""
    operations = set()
    for route in api_mount().routes:
        assert isinstance(route, Route)
        if route.path in ("/openapi.json", "/{rest:path}"):
            continue
        operations |= {(route.path, m.lower()) for m in route.methods or () if m != "HEAD"}
    return operations


def test_every_route_is_described_and_nothing_else() -> None:
    paths = openapi_document()["paths"]
    described = {(path, method) for path, item in paths.items() for method in item}
    assert described == mounted_operations()


def test_every_operation_documents_auth_errors_and_its_role() -> None:
    for item in openapi_document()["paths"].values():
        for operation in item.values():
            assert {"401", "403"} <= set(operation["responses"])
            assert "role" in operation["description"]


def test_the_document_is_served_without_a_token(api: Api) -> None:
    answer = api.get("/openapi.json", role=None)
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "/executions/{id}/retry" in document["paths"]


def test_unknown_routes_and_methods_get_json_errors(api: Api) -> None:
    missing = api.get("/nothing/here", role=None)
    assert missing.status_code == 404 and "openapi.json" in missing.json()["error"]
    wrong = api.call("PATCH", "/workflows")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, HEAD, POST"
    assert api.call("PATCH", "/executions/abc/retry").headers["allow"] == "POST"
