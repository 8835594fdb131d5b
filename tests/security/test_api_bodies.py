"""REST API bodies that storage cannot keep are a 400 naming the field, on both backends.

Python's ``json`` reads ``NaN``, ``Infinity``, ``1e999`` (infinity again) and ``"\\ud800"``
(a lone surrogate); PostgreSQL refuses them at the insert, which the API answered as a
503 — "try again", forever. Now each is a 400 whose ``field`` is its JSON path, before
anything is written, as the webhook receiver does; run data also nests at most 64 levels.

A live server per backend (uvicorn on loopback), httpx with an API token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.db import Database
from engine.models import Role
from engine.services.workflows import save_document
from tests.api_client import Api, running_api

EXECUTION_ID = "00000000-0000-7000-8000-000000000001"


def _definition(**action: Any) -> dict[str, Any]:
    return {
        "name": "greet",
        "triggers": [{"type": "manual"}],
        "actions": [{"type": "webhook", "url": "https://example.com/hook", **action}],
    }


@pytest.fixture
def api(any_db: Database, tmp_path: Path) -> Iterator[Api]:
    save_document(any_db, _definition(), actor="tester")
    yield from running_api(any_db, tmp_path)


# (name, JSON text of the value): each is refused wherever it sits.
UNSTORABLE = [
    ("nan", "NaN"),
    ("infinity", "Infinity"),
    ("minus-infinity", "-Infinity"),
    ("overflow", "1e999"),
    ("lone-surrogate", '"\\ud800"'),
    ("lone-low-surrogate", '"x\\udfffy"'),
    ("nul", '"a\\u0000b"'),
]
# (method, route, body template with {value}, the field named)
PLACES = [
    ("POST", "/workflows/greet/run", '{"data": {"amount": {value}}}', "data.amount"),
    ("POST", "/workflows/greet/run", '{"data": {"items": [1, {"n": {value}}]}}', "data.items[1].n"),
    ("POST", "/workflows", json.dumps(_definition(body={"x": "V"}))
     .replace('"greet"', '"greet-2"').replace('"V"', "{value}"), "actions[0].body.x"),
    ("PUT", "/workflows/greet",
     json.dumps(_definition(body={"x": ["V"]})).replace('"V"', "{value}"), "actions[0].body.x[0]"),
    ("POST", "/executions/retry", '{"ids": [{value}]}', "ids[0]"),
    ("POST", "/executions/cancel", '{"ids": ["' + EXECUTION_ID + '", {value}]}', "ids[1]"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "route", "template", "field"), PLACES,
                         ids=[f"{m} {r} {f}" for m, r, _t, f in PLACES])  # fmt: skip
def test_values_storage_cannot_keep_are_a_400_naming_the_field(
    api: Api, method: str, route: str, template: str, field: str
) -> None:
    for name, value in UNSTORABLE:
        body = template.replace("{value}", value).encode()
        answer = api.call(method, route, Role.SUPER_ADMIN, content=body,
                          headers={"Content-Type": "application/json"})  # fmt: skip
        assert answer.status_code == 400, (name, answer.status_code, answer.text)
        assert answer.json()["field"] == field, (name, answer.json())
        assert field in answer.json()["error"], (name, answer.json())


def test_a_surrogate_in_a_key_is_refused_too(api: Api) -> None:
    body = b'{"data": {"\\ud83d": 1}}'
    answer = api.post("/workflows/greet/run", role=Role.OPERATOR, content=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == "data"


def test_run_data_nests_at_most_64_levels(api: Api) -> None:
    def data(levels: int) -> bytes:
        return b'{"data": {"a": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}}"

    assert api.post("/workflows/greet/run", role=Role.OPERATOR, content=data(64)).status_code == 202
    deep = api.post("/workflows/greet/run", role=Role.OPERATOR, content=data(65))
    assert deep.status_code == 400, deep.text
    assert "nested deeper than 64 levels" in deep.json()["error"]
    assert deep.json()["field"].startswith("data.a")
