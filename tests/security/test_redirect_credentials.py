"""Credentials never follow a redirect to another origin, and https never falls to http.

The attack (issue 12, finding 3): a webhook target the attacker controls (or one taken
over) answers 307 with a Location on another host. httpx alone drops only Authorization
and Cookie there, so ``X-Api-Key`` reached the new origin; an https → http hop too. Two
real loopback servers on different ports are two origins.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpcore
import httpx
import pytest

from engine.actions.errors import ActionError
from engine.actions.slack_action import run_slack
from engine.actions.step_context import StepContext
from engine.actions.webhook import WebhookRequest, send_webhook
from engine.config import Settings
from engine.db import Database
from engine.security import outbound, outbound_transport
from engine.security.outbound import GuardInactive, OutboundPolicy, make_client, verify_guard
from tests.http_sink import HttpSink, Reply
from tests.test_outbound import self_signed_certificate

POLICY = OutboundPolicy(allowed_hosts=("127.0.0.1", "localhost"))
CREDENTIALS = {
    "Authorization": "Bearer canary-auth",
    "X-Api-Key": "canary-key",
    "X-Service-Token": "canary-token",
    "Cookie": "session=canary-cookie",
}


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    yield
    outbound.close_clients()


def send(url: str, method: str = "POST") -> None:
    send_webhook(
        WebhookRequest(method, url, {**CREDENTIALS, "X-Trace": "t-1"}, {"order": 7}, "e:0"),
        policy=POLICY,
        timeout=5,
        max_retries=0,
    )


def canaries_in(sink: HttpSink) -> list[str]:
    seen = " ".join(f"{r.path} {r.headers} {r.body!r}" for r in sink.requests)
    return [word for word in ("canary-auth", "canary-key", "canary-token", "canary-cookie")
            if word in seen]  # fmt: skip


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_cross_origin_redirect_drops_every_credential_header(status: int) -> None:
    with HttpSink() as first, HttpSink() as other:
        first.reply(Reply(status=status, headers={"Location": other.url("/landed")}))
        send(first.url("/start"))
    (landed,) = other.requests
    assert canaries_in(other) == []
    assert landed.headers["x-trace"] == "t-1"
    assert landed.headers["idempotency-key"] == "e:0"
    if status in (307, 308):  # the method and body are kept, as HTTP says
        assert (landed.method, json.loads(landed.body)) == ("POST", {"order": 7})
    else:
        assert (landed.method, landed.body) == ("GET", b"")


def test_same_origin_redirect_keeps_the_credentials() -> None:
    with HttpSink() as sink:
        sink.reply(Reply(status=307, headers={"Location": "/moved"}))
        send(sink.url("/start"))
    moved = sink.requests[1]
    assert moved.path == "/moved"
    assert moved.headers["x-api-key"] == "canary-key"
    assert moved.headers["authorization"] == "Bearer canary-auth"


def test_redirect_by_host_name_to_the_same_port_is_another_origin() -> None:
    with HttpSink() as sink:
        sink.reply(Reply(status=307, headers={"Location": sink.url("/b", host="localhost")}))
        send(sink.url("/a"))
    assert [r.path for r in sink.requests] == ["/a", "/b"]
    assert "x-api-key" not in sink.requests[1].headers


def test_https_to_http_redirect_is_never_followed(tmp_path: Path) -> None:
    cert_path, key_path = self_signed_certificate(tmp_path, "localhost")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_path, key_path)
    trust = ssl.create_default_context(cafile=str(cert_path))
    with HttpSink(tls=server_tls) as secure, HttpSink() as plain:
        target = plain.url("/downgraded", host="localhost")
        secure.reply(Reply(status=302, headers={"Location": target}))
        transport = outbound.GuardedTransport(POLICY, max_redirects=5, ssl_context=trust)
        with (
            httpx.Client(transport=transport, timeout=5) as client,
            pytest.raises(httpx.TransportError, match="refused redirect from https to plain http"),
        ):
            client.get(secure.url("/start", host="localhost"), headers=CREDENTIALS)
    assert plain.requests == []


def test_a_refused_downgrade_fails_the_webhook_step_permanently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_path, key_path = self_signed_certificate(tmp_path, "localhost")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_path, key_path)
    trust = ssl.create_default_context(cafile=str(cert_path))
    # The target's certificate is trusted, as a public one would be.
    monkeypatch.setattr(outbound_transport.httpx, "create_ssl_context", lambda **_: trust)
    with HttpSink(tls=server_tls) as secure, HttpSink() as plain:
        secure.reply(Reply(status=307, headers={"Location": plain.url("/x", host="localhost")}))
        with pytest.raises(ActionError, match="refused redirect from https") as failed:
            send(secure.url("/start", host="localhost"))
    assert failed.value.transient is False
    assert [r.path for r in secure.requests] == ["/start"]
    assert plain.requests == []


def test_a_private_address_is_never_reached_through_the_client() -> None:
    with HttpSink() as sink:
        with (
            make_client(OutboundPolicy(), timeout=2) as client,
            pytest.raises(outbound.BlockedTarget),
        ):
            client.post(sink.url("/internal"), content=b"x")
        with pytest.raises(ActionError, match="refused outbound call"):
            send_webhook(WebhookRequest("POST", sink.url("/internal"), {}, {}, "e:1"),
                         policy=OutboundPolicy(), timeout=2, max_retries=0)  # fmt: skip
    assert sink.requests == []


def test_the_guard_fails_closed_if_the_pool_stops_using_its_network_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should httpcore ever ignore the network backend, no outbound call goes out."""
    real_init = httpcore.ConnectionPool.__init__

    def ignoring_backend(self: httpcore.ConnectionPool, *args: object, **kwargs: object) -> None:
        kwargs.pop("network_backend", None)
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(httpcore.ConnectionPool, "__init__", ignoring_backend)
    monkeypatch.setattr(outbound, "_guard_verified", outbound.threading.Event())
    with HttpSink() as sink:
        with pytest.raises(GuardInactive, match="address guard is not working"):
            verify_guard()
        with pytest.raises(GuardInactive):
            make_client(OutboundPolicy(allow_private_targets=True), timeout=2)
    assert sink.requests == []


def test_the_slack_bot_token_never_follows_a_redirect(sqlite_db: Database) -> None:
    """slack-sdk's urllib transport followed a 302 from the Web API to any host, token and
    all, past the address guard; the Web API call now goes through the guarded client."""
    with HttpSink() as api, HttpSink() as elsewhere:
        api.reply(Reply(status=302, headers={"Location": elsewhere.url("/stolen")}))
        settings = Settings.model_validate({
            "slack": {"bot_token": "xoxb-canary-bot-token", "api_base_url": api.url("/api/")},
            "security": {"allowed_hosts": ["127.0.0.1"]},
        })  # fmt: skip
        ctx = StepContext("exec-1", 0, time.monotonic() + 10, settings, sqlite_db)
        with pytest.raises(ActionError, match="HTTP 302") as failed:
            run_slack({"channel": "#general", "text": "hi"}, ctx)
    assert failed.value.transient is False
    assert [r.path for r in api.requests] == ["/api/chat.postMessage"]
    assert elsewhere.requests == []
