"""Webhook bodies nest no deeper than a definition's values may (64 levels): a 400 naming
the depth, decided on the raw bytes before any parser recurses.

Before: 65 to ~900 levels were accepted and stored (every later step walking the trigger
data near the recursion limit), ~990 levels hit a RecursionError while the row was being
stored — a 503 with a traceback, which a sender retries for ever — and deeper ones were a
misleading "not valid JSON". An outsider needs no secret for any of it on an open hook.

A live server (uvicorn on loopback) with the default 1 MiB body limit; httpx as sender.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import func, select

from engine.config import Settings
from engine.db import Database, session_scope
from engine.models import WorkflowExecution
from engine.services.workflows import save_document
from tests.test_http_hooks import Server, _workflow

DEPTH_ERROR = "body: nested deeper than 64 levels"


@pytest.fixture
def server(sqlite_db: Database, tmp_path: Path) -> Iterator[Server]:
    settings = Settings.model_validate(
        {
            "database": {"url": sqlite_db.url},
            "queue": {"path": str(tmp_path / "queue.db")},
            "security": {"rate_limit_per_minute": 1000},
        }
    )
    save_document(sqlite_db, _workflow("open-hook", "open"), actor="t")
    with Server(settings, sqlite_db) as running:
        yield running


def executions(db: Database) -> int:
    with session_scope(db) as session:
        return int(session.exec(select(func.count()).select_from(WorkflowExecution)).one())


def post(server: Server, body: bytes) -> httpx.Response:
    headers = {"content-type": "application/json"}
    return httpx.post(f"{server.base}/hooks/open", content=body, headers=headers, timeout=30)


def nested(levels: int) -> bytes:
    """A JSON object whose containers, itself included, nest ``levels`` deep."""
    return b'{"a":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


def test_64_levels_are_accepted(server: Server, sqlite_db: Database) -> None:
    answer = post(server, nested(64))
    assert answer.status_code == 202, answer.text
    objects = b'{"a":' * 64 + b"1" + b"}" * 64
    assert post(server, objects).status_code == 202
    assert executions(sqlite_db) == 2


@pytest.mark.parametrize("levels", [65, 100, 500, 900, 990, 1000, 5000, 10_000, 500_000])
def test_deeper_bodies_are_a_400_naming_the_depth(
    server: Server, sqlite_db: Database, caplog: pytest.LogCaptureFixture, levels: int
) -> None:
    caplog.set_level(logging.WARNING)
    answer = post(server, nested(levels))
    assert (answer.status_code, answer.json()) == (400, {"error": DEPTH_ERROR})
    assert executions(sqlite_db) == 0
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 500_000,  # 500 KB, never closed
        b"[" * 500_000 + b"]" * 500_000,  # 1 MB, under the 1 MiB limit
        b"{" + b'"a":{' * 100_000 + b"}" * 100_001,
        b'{"a":' * 65 + b"1" + b"}" * 65,
        ('{"a":' + "[" * 70 + "]" * 70 + "}").encode("utf-16"),  # json.loads reads UTF-16 too
    ],
    ids=["unclosed-500k", "1MB", "objects-100k", "objects-65", "utf-16-71"],
)
def test_other_deep_shapes_are_a_400_too(server: Server, sqlite_db: Database, body: bytes) -> None:
    answer = post(server, body)
    assert (answer.status_code, answer.json()) == (400, {"error": DEPTH_ERROR})
    assert executions(sqlite_db) == 0


def test_brackets_inside_strings_do_not_count(server: Server, sqlite_db: Database) -> None:
    text = "[{" * 5000 + '\\"[' * 100
    body = json.dumps({"a": text, "b": ["]]]}}}" * 100]}).encode()
    answer = post(server, body)
    assert answer.status_code == 202, answer.text
    assert executions(sqlite_db) == 1


@pytest.mark.timeout(60)
def test_escaped_quotes_ending_in_a_backslash_cannot_stall_the_receiver(
    server: Server, sqlite_db: Database
) -> None:
    """A string of escaped quotes that ends in a lone backslash made the depth scan's string
    pattern fail and retry from every quote: quadratic, about an hour for 1 MiB, holding the
    event loop (``/health`` waited too). Now the body is refused in linear time."""
    hostile = b"[" * 65 + b'"' + b'\\"' * 500_000 + b"\\"  # just under 1 MiB
    answer = post(server, hostile)
    assert answer.status_code == 400
    assert httpx.get(f"{server.base}/health", timeout=10).status_code in (200, 503)
    assert executions(sqlite_db) == 0
