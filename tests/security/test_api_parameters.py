"""Every ``/api`` route and every one of its path and query parameters, with hostile values.

An outsider with a valid token sends wrong types, naive and out-of-range times, huge
numbers, NUL, lone surrogates (percent-encoded UTF-8 of U+D800), negative limits,
cursors that decode but point nowhere sane, repeated and unknown parameters. Each answer
is a 400 naming the parameter in ``field`` — or a 404 for an id or name that does not
exist, or a 200 for a free-text filter that simply matches nothing — never a 500 or 503,
and the server logs no traceback. The routes and their parameters are read from the
OpenAPI description, so a new route or parameter is attacked without editing this file.

One live server (uvicorn on loopback, httpx as the client) per backend for the module.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlmodel import select
from starlette.routing import Route

from engine.config import Settings
from engine.db import Database, connect_database, open_database, session_scope
from engine.http.api import api_mount
from engine.http.api.openapi import openapi_document
from engine.models import Role, Workflow, WorkflowExecution
from engine.services.tokens import create_token
from engine.services.workflows import save_document
from tests.api_client import set_role
from tests.conftest import settings_for_url
from tests.pg import fresh_postgres_url
from tests.test_http_hooks import Server

WORKFLOW = "greet"
EXECUTION = "00000000-0000-7000-8000-000000000001"
MISSING_NAME = "no-such-workflow"
MISSING_ID = "00000000-0000-7000-8000-00000000dead"


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# name -> the value as it goes into the URL, already percent-encoded.
HOSTILE: dict[str, str] = {
    "word": "ten",
    "decimal": "1.5",
    "hex": "0x10",
    "exponent": "1e3",
    "negative": "-1",
    "minus-zero": "-0",
    "zero": "0",
    "empty": "",
    "space": "%20",
    "newline": "5%0A",
    "huge": "9" * 5000,
    "twenty-digits": "9" * 20,
    "fullwidth-digit": quote("\uff11"),
    "superscript-digit": quote("²"),
    "arabic-indic-digit": quote("٣"),
    "nul": "a%00b",
    "lone-surrogate": "%ED%A0%80",
    "invalid-utf8": "%FF%FE",
    "long": "x" * 5000,
    "naive-time": "2024-05-01T12:00:00",
    "year-1-east": quote("0001-01-01T00:00:00+23:59"),
    "year-9999-west": quote("9999-12-31T23:59:59-23:59"),
    "offset-25h": quote("2024-05-01T12:00:00+25:00"),
    "cursor-naive": _cursor(b"2024-05-01T12:00:00|" + EXECUTION.encode()),
    "cursor-no-id": _cursor(b"2024-05-01T12:00:00+00:00|"),
    "cursor-long-id": _cursor(b"2024-05-01T12:00:00+00:00|" + b"x" * 37),
    "cursor-nul-id": _cursor(b"2024-05-01T12:00:00+00:00|a\x00b"),
    "cursor-surrogate-id": _cursor(b"2024-05-01T12:00:00+00:00|\xed\xa0\x80"),
    "cursor-year-1": _cursor(b"0001-01-01T00:00:00+23:59|x"),
    "cursor-year-9999": _cursor(b"9999-12-31T23:59:59-23:59|x"),
    "cursor-not-utf8": _cursor(b"\xff\xfe|x"),
    "cursor-padding": "====",
    "dot-dot": "..",
    "percent": "%25",
}
NEVER_VALID = {"nul", "lone-surrogate", "invalid-utf8", "huge", "long"}
"""Values no parameter may accept (a 400 naming it, or 404 for a name or id)."""

FREE_TEXT = {"workflow", "trigger", "error"}
"""Filters whose value is matched, not parsed: a value matching nothing is a 200."""
VALID = {("since", "naive-time"), ("until", "naive-time"), ("log_limit", "zero"),
         ("cursor", "empty")}  # fmt: skip
"""Values that mean something: a time without an offset is UTC, no log lines, no cursor
(the first page)."""
NAMES_ANY_HOST = {"destination"}
"""Path parameters that name any host (a destination may be held before it is ever
called): a host name is accepted (200), everything else is a 400 naming it."""


def _operations() -> list[tuple[str, str, str, str]]:
    """(method, path template, parameter, where) for every parameter of every route, plus a
    made-up query parameter per route (unknown parameters are refused by name)."""
    found = []
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            for parameter in operation["parameters"]:
                found.append((method.upper(), path, parameter["name"], parameter["in"]))
            found.append((method.upper(), path, "colour", "query"))
    return found


OPERATIONS = _operations()
BODIES: dict[tuple[str, str], Any] = {
    # A body that is itself refused (400 field "name"/"ids") or acts on nothing: a
    # parameter that slipped through would show in the field or the status.
    ("POST", "/workflows"): {"name": ""},
    ("PUT", "/workflows/{name}"): {"name": ""},
    ("POST", "/workflows/{name}/run"): {"data": {}},
    ("POST", "/executions/retry"): {"ids": [MISSING_ID]},
    ("POST", "/executions/cancel"): {"ids": [MISSING_ID]},
}


def _seed(db: Database) -> None:
    save_document(
        db,
        {"name": WORKFLOW, "triggers": [{"type": "manual"}],
         "actions": [{"type": "create_task", "title": "t"}]},
        actor="tester",
    )  # fmt: skip
    created = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    with session_scope(db) as session:
        workflow_id = session.exec(select(Workflow.id).where(Workflow.name == WORKFLOW)).one()
        session.add(
            WorkflowExecution(
                id=EXECUTION, workflow_id=workflow_id, status="FAILED", trigger_type="manual",
                error="boom", created_at=created, available_at=created,
            )
        )  # fmt: skip


class Client:
    """A SUPER_ADMIN token against one live server (every route is allowed)."""

    def __init__(self, server: Server, token: str) -> None:
        self.server, self.token = server, token
        self.http = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"})

    def send(self, method: str, target: str, body: Any) -> httpx.Response:
        # The target is sent as written: httpx keeps percent-escapes it is given.
        return self.http.request(method, f"{self.server.base}/api{target}", json=body)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Client]:
    folder = tmp_path_factory.mktemp("api-parameters")
    if request.param == "sqlite":
        db = open_database(settings_for_url(f"sqlite:///{folder / 'api.db'}"))
        yield from _serve(db, folder)
        return
    template = request.getfixturevalue("postgres_template")
    with fresh_postgres_url("wf_test", template=template) as url:
        yield from _serve(connect_database(settings_for_url(url)), folder)


def _serve(db: Database, folder: Path) -> Iterator[Client]:
    try:
        _seed(db)
        set_role(db, "root", Role.SUPER_ADMIN)
        token = create_token(db, actor="root", name="hostile").token
        settings = Settings.model_validate(
            {"database": {"url": db.url}, "queue": {"path": str(folder / "queue.db")}}
        )
        with Server(settings, db) as server:
            client = Client(server, token)
            yield client
            client.http.close()
    finally:
        db.dispose()


def _target(method: str, path: str, parameter: str, where: str, value: str) -> str:
    """The URL below /api: valid path parameters but the one attacked; for routes that
    change things, names and ids that do not exist (an accepted parameter would be a 404)."""
    changes = method != "GET"
    fill = {
        "name": MISSING_NAME if changes else WORKFLOW,
        "id": MISSING_ID if changes else EXECUTION,
        "destination": "hooks.example.com",
    }
    target = path
    for name, default in fill.items():
        target = target.replace("{" + name + "}", value if where == "path" and name == parameter
                                else default)  # fmt: skip
    if where == "query":
        target += f"?{parameter}={value}"
    return target


def _check(answer: httpx.Response, parameter: str, where: str, kind: str) -> None:
    status = answer.status_code
    assert status < 500, (status, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/json"), answer.text[:300]
    document = answer.json()
    if status == 400:
        assert document["field"] == parameter, document
        assert isinstance(document["error"], str) and document["error"]
        return
    if kind in NEVER_VALID:
        assert where == "path" and status == 404, (status, document)
        return
    if status == 404:
        assert where == "path", document  # only a path names something that may not exist
        return
    if where == "path" and parameter in NAMES_ANY_HOST and kind not in NEVER_VALID:
        assert status == 200, (status, document)
        return
    assert status == 200 and where == "query", (status, document)
    assert parameter in FREE_TEXT or (parameter, kind) in VALID, document


@pytest.mark.parametrize(
    ("method", "path", "parameter", "where"),
    OPERATIONS,
    ids=[f"{m} {p} {w}:{n}" for m, p, n, w in OPERATIONS],
)
def test_hostile_parameter_values_are_a_400_naming_the_parameter_never_a_500(
    client: Client, caplog: pytest.LogCaptureFixture, method: str, path: str, parameter: str,
    where: str,
) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING)
    wrong = []
    for name, value in HOSTILE.items():
        if where == "path" and name in ("empty", "dot-dot"):
            continue  # routing: another route, or the router's own 404, answers these
        target = _target(method, path, parameter, where, value)
        answer = client.send(method, target, BODIES.get((method, path)))
        try:
            _check(answer, parameter, where, name)
        except AssertionError:
            wrong.append(f"{name}: {answer.status_code} {answer.text[:150]}")
    assert not wrong, "\n".join(wrong)
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert tracebacks == [], [r.getMessage() for r in tracebacks]


@pytest.mark.parametrize(
    ("path", "parameter"),
    [(p, n) for _m, p, n, w in OPERATIONS if w == "query" and n != "colour"],
)
def test_a_query_parameter_given_twice_is_a_400_naming_it(
    client: Client, path: str, parameter: str
) -> None:
    method = next(m for m, p, n, _w in OPERATIONS if (p, n) == (path, parameter))
    target = _target(method, path, parameter, "query", "1") + f"&{parameter}=2"
    answer = client.send(method, target, BODIES.get((method, path)))
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == parameter


def test_every_parameter_a_route_accepts_is_described_and_so_attacked_above() -> None:
    """The routes refuse query parameters they do not declare; the declared ones are the
    OpenAPI description's, which the tests above take their parameters from."""
    paths = openapi_document()["paths"]
    for route in api_mount().routes:
        if not isinstance(route, Route) or route.path in ("/openapi.json", "/{rest:path}"):
            continue
        declared = route.endpoint.query_parameters  # type: ignore[attr-defined]
        for method in (route.methods or set()) - {"HEAD"}:
            parameters = paths[route.path][method.lower()]["parameters"]
            assert declared == {p["name"] for p in parameters if p["in"] == "query"}, route.path
