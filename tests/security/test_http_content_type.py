"""``POST /hooks/{path}`` takes JSON media types only: a web page cannot post to ``serve``.

A page in a browser may send a "simple" cross-origin request — ``text/plain``, a form,
``multipart/form-data`` — without a CORS preflight, to any address the browser reaches,
``127.0.0.1:8080`` included. The receiver used to parse any body as JSON, so a page could
start an open hook's workflow on a developer's loopback ``serve``. Now anything but
``application/json`` or ``application/<x>+json`` (parameters allowed) is a 415, after the
path (404) and the rate limit (429), before the body is read (413, 401, 400).

A live server (uvicorn on loopback), httpx as the attacker's browser.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import func, select

from engine.config import Settings
from engine.db import Database, session_scope
from engine.http.signature import sign
from engine.models import WorkflowExecution
from engine.services.workflows import save_document
from tests.test_http_hooks import SECRET, Server, _workflow

MAX_BODY = 1000
RATE = 5


@pytest.fixture
def server(sqlite_db: Database, tmp_path: Path) -> Iterator[Server]:
    settings = Settings.model_validate(
        {
            "database": {"url": sqlite_db.url},
            "queue": {"path": str(tmp_path / "queue.db")},
            "security": {"rate_limit_per_minute": RATE, "webhook_max_body_bytes": MAX_BODY},
        }
    )
    save_document(sqlite_db, _workflow("open-hook", "open"), actor="t")
    save_document(sqlite_db, _workflow("signed-hook", "signed", SECRET), actor="t")
    with Server(settings, sqlite_db) as running:
        yield running


def executions(db: Database) -> int:
    with session_scope(db) as session:
        return int(session.exec(select(func.count()).select_from(WorkflowExecution)).one())


def post(server: Server, path: str, body: bytes, headers: list[tuple[str, str]]) -> httpx.Response:
    return httpx.post(f"{server.base}/hooks/{path}", content=body, headers=headers, timeout=10)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain;charset=UTF-8",  # what fetch() sends for a string body, no preflight
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=----x",
        "text/json",
        "application/jsonp",
        "application/json-patch",
        "application/x-json",
        "application/+json",
        "json",
        "",
        "application/json/x",
        "*/*",
    ],
)
def test_a_body_that_is_not_declared_json_is_a_415_and_starts_nothing(
    server: Server, sqlite_db: Database, content_type: str | None
) -> None:
    headers = [] if content_type is None else [("Content-Type", content_type)]
    headers.append(("Origin", "https://attacker.example"))
    answer = post(server, "open", b'{"order": 1}', headers)
    assert answer.status_code == 415, answer.text
    assert answer.json() == {"error": "Content-Type must be application/json"}
    assert executions(sqlite_db) == 0


def test_two_content_types_are_a_415(server: Server, sqlite_db: Database) -> None:
    headers = [("Content-Type", "application/json"), ("Content-Type", "text/plain")]
    assert post(server, "open", b"{}", headers).status_code == 415
    assert executions(sqlite_db) == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;Charset=UTF-8",
        "application/json ;charset=utf-8",
        "application/vnd.api+json",
        "application/cloudevents+json; charset=utf-8",
    ],
)
def test_json_media_types_are_accepted(
    server: Server, sqlite_db: Database, content_type: str
) -> None:
    answer = post(server, "open", b'{"order": 2}', [("Content-Type", content_type)])
    assert answer.status_code == 202, answer.text
    assert executions(sqlite_db) == 1


def test_415_comes_after_the_path_and_before_size_signature_and_body(
    server: Server, sqlite_db: Database
) -> None:
    text = [("Content-Type", "text/plain")]
    assert post(server, "nowhere", b"{}", text).status_code == 404  # path first
    assert post(server, "open", b"x" * (MAX_BODY + 1), text).status_code == 415  # before 413
    assert post(server, "signed", b"{}", text).status_code == 415  # before 401
    body = b'{"order": 3}'
    signed = [*text, ("X-Wf-Signature", sign(SECRET, int(time.time()), body))]
    assert post(server, "signed", body, signed).status_code == 415
    assert post(server, "open", b"{not json", text).status_code == 415  # before 400
    assert executions(sqlite_db) == 0
    # The refused signature was not spent: sent again as JSON, it is accepted.
    again = post(server, "signed", body, [("Content-Type", "application/json"), signed[-1]])
    assert again.status_code == 202, again.text


def test_the_rate_limit_counts_refused_content_types_and_comes_first(server: Server) -> None:
    """415s are requests too: a page cannot probe a hook without spending its budget."""
    while time.time() % 60 > 50:  # the limit's one-minute window must not roll over here
        time.sleep(1)
    text = [("Content-Type", "text/plain")]
    answers = [post(server, "open", b"{}", text).status_code for _ in range(RATE + 1)]
    assert answers == [415] * RATE + [429]
    json = [("Content-Type", "application/json")]
    assert post(server, "open", b"{}", json).status_code == 429
