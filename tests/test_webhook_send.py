"""send_webhook against a real HTTP server on loopback: headers, retries, deadlines."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from engine.actions.errors import ActionError
from engine.actions.webhook import (
    BODY_LIMIT_CHARS,
    TRUNCATION_MARKER,
    WebhookRequest,
    send_webhook,
)
from engine.security import outbound
from engine.security.outbound import OutboundPolicy
from tests import http_sink as sink_fixtures
from tests.http_sink import HttpSink, Reply

LOOPBACK_OK = OutboundPolicy(allow_private_targets=True)

http_sink = sink_fixtures.http_sink


@pytest.fixture(autouse=True)
def _fresh_client_cache() -> Iterator[None]:
    yield
    outbound.close_clients()


def make_request(url: str, **overrides: Any) -> WebhookRequest:
    fields: dict[str, Any] = {
        "method": "POST",
        "url": url,
        "headers": {},
        "body": {"order": 42, "name": "Zoë"},
        "idempotency_key": "exec-1:2",
    }
    fields.update(overrides)
    return WebhookRequest(**fields)


def send(req: WebhookRequest, **overrides: Any) -> Any:
    options: dict[str, Any] = {"policy": LOOPBACK_OK, "timeout": 2.0, "max_retries": 3}
    options.update(overrides)
    return send_webhook(req, **options)


def test_posts_json_with_idempotency_key_and_user_agent(http_sink: HttpSink) -> None:
    http_sink.reply(Reply(status=201, body=b'{"id": 7}'))
    response = send(make_request(http_sink.url("/hook"), headers={"X-Token": "abc"}))
    assert (response.status_code, response.body, response.attempts) == (201, '{"id": 7}', 1)
    [seen] = http_sink.requests
    assert (seen.method, seen.path) == ("POST", "/hook")
    assert json.loads(seen.body) == {"order": 42, "name": "Zoë"}
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["idempotency-key"] == "exec-1:2"
    assert seen.headers["user-agent"].startswith("wfconsole/")
    assert seen.headers["x-token"] == "abc"


def test_get_sends_no_body(http_sink: HttpSink) -> None:
    send(make_request(http_sink.url(), method="get"))
    [seen] = http_sink.requests
    assert (seen.method, seen.body) == ("GET", b"")


def test_server_error_then_success_takes_two_attempts(http_sink: HttpSink) -> None:
    http_sink.reply(Reply(status=503), Reply(status=200, body=b"done"))
    response = send(make_request(http_sink.url()))
    assert (response.status_code, response.body, response.attempts) == (200, "done", 2)
    assert len(http_sink.requests) == 2


def test_idempotency_key_is_identical_on_every_attempt(http_sink: HttpSink) -> None:
    http_sink.reply(Reply(status=500), Reply(status=502), Reply(status=200))
    send(make_request(http_sink.url()))
    keys = [r.headers["idempotency-key"] for r in http_sink.requests]
    assert keys == ["exec-1:2"] * 3


def test_too_many_requests_waits_for_retry_after(http_sink: HttpSink) -> None:
    http_sink.reply(Reply(status=429, headers={"Retry-After": "1"}), Reply(status=200))
    response = send(make_request(http_sink.url()))
    first, second = http_sink.requests
    assert response.attempts == 2
    assert second.received_at - first.received_at >= 0.95


def test_retry_after_beyond_deadline_stops_at_once(http_sink: HttpSink) -> None:
    http_sink.reply(Reply(status=429, headers={"Retry-After": "20"}))
    started = time.monotonic()
    with pytest.raises(ActionError, match="workflow timeout reached") as caught:
        send(make_request(http_sink.url()), deadline=started + 2)
    assert time.monotonic() - started < 1
    assert caught.value.transient
    assert caught.value.retry_after == 20
    assert len(http_sink.requests) == 1


def test_not_found_fails_permanently_without_retry(http_sink: HttpSink) -> None:
    http_sink.reply(Reply(status=404, body=b"no such hook"))
    with pytest.raises(ActionError, match="HTTP 404") as caught:
        send(make_request(http_sink.url()))
    assert not caught.value.transient
    assert caught.value.data["status_code"] == 404
    assert caught.value.data["body"] == "no such hook"
    assert len(http_sink.requests) == 1


def test_exhausted_retries_fail_transiently_with_last_status(http_sink: HttpSink) -> None:
    http_sink.default = Reply(status=503, body=b"maintenance")
    with pytest.raises(ActionError, match="after 2 attempt") as caught:
        send(make_request(http_sink.url()), max_retries=1)
    assert caught.value.transient
    assert caught.value.data == {"attempts": 2, "status_code": 503, "body": "maintenance"}
    assert len(http_sink.requests) == 2


def test_hung_server_fails_within_the_deadline(http_sink: HttpSink) -> None:
    http_sink.default = Reply(delay=10)
    started = time.monotonic()
    with pytest.raises(ActionError, match="workflow timeout reached") as caught:
        send(make_request(http_sink.url()), timeout=0.3, max_retries=10, deadline=started + 0.8)
    assert time.monotonic() - started < 1.0
    assert "timed out" in str(caught.value)
    assert caught.value.transient


def test_hung_server_without_deadline_times_out_each_attempt(http_sink: HttpSink) -> None:
    http_sink.default = Reply(delay=10)
    with pytest.raises(ActionError, match=r"after 2 attempt\(s\): timed out after 0.2 s"):
        send(make_request(http_sink.url()), timeout=0.2, max_retries=1)
    assert len(http_sink.requests) == 2


def test_long_response_body_is_truncated(http_sink: HttpSink) -> None:
    http_sink.reply(Reply(body=b"x" * 50_000))
    response = send(make_request(http_sink.url()))
    assert response.body == "x" * BODY_LIMIT_CHARS + TRUNCATION_MARKER


def test_short_response_body_is_kept_whole(http_sink: HttpSink) -> None:
    http_sink.reply(Reply(body=b"y" * BODY_LIMIT_CHARS))
    assert send(make_request(http_sink.url())).body == "y" * BODY_LIMIT_CHARS


def test_private_target_is_refused_permanently(http_sink: HttpSink) -> None:
    with pytest.raises(ActionError, match=r"refused outbound call to 127\.0\.0\.1") as caught:
        send(make_request(http_sink.url()), policy=OutboundPolicy())
    assert not caught.value.transient
    assert http_sink.requests == []


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ActionError, match="connection failed") as caught:
        send(make_request(f"http://127.0.0.1:{port}/"), max_retries=1)
    assert caught.value.transient


def test_invalid_url_fails_permanently() -> None:
    with pytest.raises(ActionError, match="invalid webhook request") as caught:
        send(make_request("http://0177.0.0.1/"))
    assert not caught.value.transient


def test_errors_never_carry_request_headers(http_sink: HttpSink) -> None:
    http_sink.reply(Reply(status=401, body=b"denied"))
    req = make_request(http_sink.url(), headers={"Authorization": "Bearer s3cret-token"})
    with pytest.raises(ActionError) as caught:
        send(req)
    assert "s3cret-token" not in f"{caught.value} {caught.value!r} {caught.value.data}"
