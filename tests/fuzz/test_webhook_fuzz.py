"""The webhook receiver under hostile requests: a real uvicorn server on loopback over
SQLite (and PostgreSQL for the bodies storage may refuse). Random paths, bodies, content
types and signature headers get only the contract's answers — never a 500, never a 503
while storage is healthy — and no execution row unless the answer is 202."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select

from engine.config import Settings
from engine.db import Database, session_scope
from engine.http.signature import sign
from engine.models import WorkflowExecution
from engine.services.workflows import save_document
from tests.fuzz.budget import examples
from tests.fuzz.definition_strategies import json_values
from tests.test_http_hooks import Server, _workflow

SECRET = "fuzz-secret"
MAX_BODY = 4096
CONTRACT = {202, 400, 401, 404, 413, 415, 429}  # and 503, which healthy storage never needs
JSON = {"content-type": "application/json"}
PATHS = ["open", "signed", "off", "team/a.b_c-d"]


def _settings(db: Database, tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": db.url},
            "queue": {"path": str(tmp_path / "queue.db")},
            "security": {"rate_limit_per_minute": 1_000_000, "webhook_max_body_bytes": MAX_BODY},
        }
    )


def _serve(db: Database, tmp_path: Path, *, signed: bool = True) -> Server:
    """The receiver over ``db`` with an open, a signed (a stored secret needs an encryption
    key on PostgreSQL), a disabled and a nested-path hook."""
    save_document(db, _workflow("open-hook", "open"), actor="t")
    if signed:
        save_document(db, _workflow("signed-hook", "signed", SECRET), actor="t")
    save_document(db, _workflow("off-hook", "off", enabled=False), actor="t")
    save_document(db, _workflow("nested-hook", "team/a.b_c-d"), actor="t")
    return Server(_settings(db, tmp_path), db)


@pytest.fixture
def server(sqlite_db: Database, tmp_path: Path) -> Iterator[Server]:
    with _serve(sqlite_db, tmp_path) as running:
        yield running
    client = _clients.pop(running.base, None)
    if client is not None:
        client.close()


def executions(db: Database) -> int:
    with session_scope(db) as session:
        return int(session.exec(select(func.count()).select_from(WorkflowExecution)).one())


_clients: dict[str, httpx.Client] = {}


def post(server: Server, path: str, body: bytes, headers: dict[str, Any]) -> httpx.Response:
    """POST through one keep-alive client per server (a client per request costs more
    than the request)."""
    client = _clients.get(server.base)
    if client is None:
        client = _clients[server.base] = httpx.Client(timeout=30)
    return client.post(f"{server.base}/hooks/{path}", content=body, headers=headers)


def assert_contract_answer(
    server: Server, db: Database, answer: httpx.Response, before: int
) -> None:
    """Only contract codes; a JSON error for refusals; rows exactly for a 202."""
    assert answer.status_code in CONTRACT, (answer.status_code, answer.text[:300])
    # JSON even from the router, for a path its pattern cannot hold ("\n").
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.text
    document = answer.json()
    if answer.status_code == 202:
        assert executions(db) == before + len(document["executions"])
    else:
        assert isinstance(document["error"], str) and document["error"]
        assert executions(db) == before


_HOOK_PATHS = st.sampled_from(PATHS) | st.text(max_size=30).map(lambda p: quote(p, safe="/")) | (
    st.sampled_from(["open/", "open%00", "%2e%2e/open", "open%2F", "OPEN", "open;x", "//open",
                     "open/../signed", "%ff", "a" * 3000])
)  # fmt: skip


def _deep(levels: int) -> bytes:
    return b'{"a":' + b"[" * levels + b"]" * levels + b"}"


_BODIES = st.one_of(
    st.binary(max_size=300),
    st.binary(min_size=MAX_BODY - 10, max_size=MAX_BODY + 10),
    json_values().map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.text(max_size=10), json_values(), max_size=5).map(
        lambda d: json.dumps(d).encode()
    ),
    st.sampled_from(
        [b"", b"{}", b"null", b"[]", b'{"a": NaN}', b'{"a": Infinity}', b'{"a": "\\u0000"}',
         b'{"\\u0000": 1}', b'{"a": "\\ud800"}', b'{"n": 1' + b"0" * 4000 + b"}", b"\xef\xbb\xbf{}",
         '{"a": 1}'.encode("utf-16"), b'{"a": 1, "a": 2}', b"\xff\xfe\xfd", _deep(300),
         _deep(MAX_BODY // 2 - 4), b"[" * MAX_BODY]
    ),
)  # fmt: skip
# Mostly JSON types (anything else stops at the 415, before the body is read).
_CONTENT_TYPES = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-16",
                     "Application/Vnd.Example+JSON"]),
    st.sampled_from([None, "text/plain", "application/x-www-form-urlencoded",
                     "multipart/form-data; boundary=x", "\x80\xff", "a" * 2000,
                     "application/jsonx", "text/json", "application/+json"]),
)  # fmt: skip


# What HTTP allows in a header value (h11 refuses the rest before sending).
_HEADER_CHARACTERS = st.characters(codec="latin-1", exclude_categories=["Cc"]) | st.just("\t")


def _header(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


@st.composite
def signature_headers(draw: st.DrawFn, body: bytes) -> str | bytes | None:
    """None, garbage, or a signature of this body that is valid or nearly so."""
    now = int(time.time())
    valid = sign(SECRET, now + draw(st.integers(-290, 290)), body)
    kind = draw(st.sampled_from(["none", "garbage", "bytes", "valid", "mutated", "stale"]))
    if kind == "none":
        return None
    if kind == "garbage":
        return draw(st.text(_HEADER_CHARACTERS, max_size=200)).strip()
    if kind == "bytes":
        return draw(st.text(_HEADER_CHARACTERS, max_size=200)).strip().encode("latin-1")
    if kind == "valid":
        return valid
    if kind == "stale":
        return sign(SECRET, now + draw(st.sampled_from([-301, 400, -(10**11), 10**12])), body)
    mutations = [
        lambda h: h.upper(),
        lambda h: h.replace("v1=", "v1=0"),
        lambda h: h[:-1] + ("0" if h[-1] != "0" else "1"),
        lambda h: h + ",v1=" + "0" * 64,
        lambda h: h.replace("t=", "t= "),
        lambda h: h.replace("t=", "t=-"),
        lambda h: h.replace("t=", "t=0x"),
        lambda h: h.replace(",", ";"),
        lambda h: h + "," + h,
        lambda h: h + ",x" * 600,
        lambda h: h.replace("t=", "t=\u0661"),  # an Arabic-Indic digit
    ]
    return str(draw(st.sampled_from(mutations))(valid))


@settings(
    max_examples=examples(300),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_random_requests_get_only_contract_answers_and_rows_only_when_accepted(
    server: Server, sqlite_db: Database, data: st.DataObject
) -> None:
    path = data.draw(_HOOK_PATHS, "path")
    body = data.draw(_BODIES, "body")
    headers: dict[str, Any] = {}
    content_type = data.draw(_CONTENT_TYPES, "content-type")
    if content_type is not None:
        headers["content-type"] = _header(content_type)
    signature = data.draw(signature_headers(body), "signature")
    if signature is not None:
        headers["x-wf-signature"] = _header(signature)
    before = executions(sqlite_db)
    answer = post(server, path, body, headers)
    assert_contract_answer(server, sqlite_db, answer, before)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"[" * MAX_BODY, "body: nested deeper than 64 levels"),
        (b'{"a":' + b"[" * 2000 + b"]" * 2000 + b"}", "body: nested deeper than 64 levels"),
        (b'{"a": NaN}', "not valid JSON"),
        (b'{"a": -Infinity}', "not valid JSON"),
        (b'{"a": "x\\u0000"}', "body.a: NUL characters"),
        (b'{"k\\u0000": 1}', "NUL characters"),
        (b'{"a": ["\\udfff"]}', "body.a[0]: text is not valid Unicode"),
    ],
    ids=["unclosed", "deep", "nan", "infinity", "nul", "nul-key", "surrogate"],
)
def test_found_by_fuzzing_bodies_storage_cannot_keep_are_400(
    server: Server, sqlite_db: Database, body: bytes, fragment: str
) -> None:
    answer = post(server, "open", body, JSON)
    assert answer.status_code == 400
    assert fragment in answer.json()["error"]
    assert executions(sqlite_db) == 0


@pytest.mark.parametrize("path", ["", ".", "./", "%2e"])
def test_found_by_fuzzing_an_empty_hook_path_is_404_not_a_redirect(
    server: Server, sqlite_db: Database, path: str
) -> None:
    answer = post(server, path, b"{}", JSON)
    assert answer.status_code == 404
    assert answer.json() == {"error": "no webhook trigger on this path"}
    assert executions(sqlite_db) == 0


@pytest.mark.postgres
@pytest.mark.parametrize(
    "body",
    [b'{"a": NaN}', b'{"a": "\\u0000"}', b'{"a": "\\ud800"}', b'{"n": 1' + b"0" * 4000 + b"}",
     b'{"a": "\\u00e9\\ud83d\\ude00"}', b'{"a": 1e308, "b": -0.0, "c": 5e-324}',
     b'{"a": ' + b"[" * 900 + b"]" * 900 + b"}"],
    ids=["nan", "nul", "surrogate", "4000-digits", "astral", "float-edges", "deep-900"],
)  # fmt: skip
def test_on_postgresql_a_body_is_stored_or_refused_never_a_503(
    postgres_db: Database, tmp_path: Path, body: bytes
) -> None:
    with _serve(postgres_db, tmp_path, signed=False) as running:
        before = executions(postgres_db)
        answer = post(running, "open", body, JSON)
        assert answer.status_code in (202, 400), answer.text[:300]
        assert_contract_answer(running, postgres_db, answer, before)


def _raw(server: Server, request: bytes) -> bytes:
    """Send bytes as they are (a lying Content-Length) and read the whole answer."""
    host, port = server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)  # no half-close: the server would take it as a disconnect
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("declared", "sent", "status"),
    [
        (str(MAX_BODY * 100), b"{}", b"413"),  # claims too much: refused before reading
        ("99999999999999999999999", b"{}", b"400"),  # uvicorn refuses it as malformed
        ("2", b'{"a": 1}', b"400"),  # claims less: the body read is "{\""
        ("-1", b"{}", b"400"),
        ("abc", b"{}", b"400"),
    ],
)
def test_a_lying_content_length_gets_a_contract_answer(
    server: Server, sqlite_db: Database, declared: str, sent: bytes, status: bytes
) -> None:
    request = (
        f"POST /hooks/open HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n\r\n"
    ).encode() + sent
    answer = _raw(server, request)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert executions(sqlite_db) == 0
