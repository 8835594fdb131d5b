"""A fake Slack on loopback: the Web API's chat.postMessage and an incoming webhook.

It answers the way Slack does — ``ok``/``error`` JSON with HTTP 200, 429 with
``Retry-After`` when rate limited, ``ok`` / ``no_service`` / ``invalid_payload`` plain text
from the webhook — so the slack action runs against it unchanged.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

import pytest

from tests.loopback_server import LoopbackServer

BOT_TOKEN = "xoxb-fake-bot-token"
WEBHOOK_PATH = "/services/T000/B000/fakewebhooksecret"


@dataclass
class Posted:
    """A message Slack accepted: where it came in and what it said."""

    via: str  # "api" or "webhook"
    channel: str | None
    payload: dict[str, Any]
    headers: dict[str, str]
    received_at: float = field(default_factory=time.monotonic)


class FakeSlack(LoopbackServer):
    """ThreadingHTTPServer on 127.0.0.1:0 with channels, a bot token and a webhook."""

    def __init__(self) -> None:
        self.token = BOT_TOKEN
        self.webhook_path = WEBHOOK_PATH
        self.channels = {"#general": "C0GENERAL", "#finance": "C0FINANCE"}
        self.not_member: set[str] = set()
        self.posted: list[Posted] = []
        self.rate_limited_for = 0  # answer this many next calls with 429
        self.retry_after = 7
        self.server_errors = 0  # answer this many next calls with HTTP 503
        self.delay = 0.0  # seconds before every answer (a hung Slack)
        self.calls = 0
        self._lock = threading.Lock()
        super().__init__(self._handler_class())

    @property
    def api_base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.webhook_path}"

    # --- what Slack decides -------------------------------------------------------------

    def _throttle(self) -> tuple[int, dict[str, str], bytes] | None:
        with self._lock:
            self.calls += 1
            if self.rate_limited_for > 0:
                self.rate_limited_for -= 1
                body = json.dumps({"ok": False, "error": "ratelimited"}).encode()
                return 429, {"Retry-After": str(self.retry_after)}, body
            if self.server_errors > 0:
                self.server_errors -= 1
                return 503, {}, b"<html>upstream unavailable</html>"
        return None

    def post_message(self, headers: dict[str, str], payload: dict[str, Any]) -> dict[str, Any]:
        """chat.postMessage: check the token, the channel and the content."""
        if headers.get("authorization") != f"Bearer {self.token}":
            return {"ok": False, "error": "invalid_auth"}
        channel = str(payload.get("channel") or "")
        channel_id = self.channels.get(channel) or (
            channel if channel in self.channels.values() else None
        )
        if channel_id is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.not_member or channel_id in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        if not payload.get("text") and not payload.get("blocks"):
            return {"ok": False, "error": "no_text"}
        with self._lock:
            self.posted.append(Posted("api", channel_id, payload, headers))
            ts = f"1764000000.{len(self.posted):06d}"
        return {
            "ok": True,
            "channel": channel_id,
            "ts": ts,
            "message": {"text": payload.get("text")},
        }

    def incoming_webhook(self, path: str, payload: Any) -> tuple[int, bytes]:
        if path != self.webhook_path:
            return 404, b"no_service"
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
            return 400, b"invalid_payload"
        with self._lock:
            self.posted.append(Posted("webhook", payload.get("channel"), payload, {}))
        return 200, b"ok"

    # --- HTTP ---------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        slack = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                if slack.delay and slack._stopping.wait(slack.delay):
                    return
                throttled = slack._throttle()
                if throttled is not None:
                    self._send(*throttled)
                elif self.path == "/api/chat.postMessage":
                    answer = slack.post_message(headers, _payload(headers, raw))
                    self._send(
                        200, {"Content-Type": "application/json"}, json.dumps(answer).encode()
                    )
                elif self.path.startswith("/services/"):
                    status, body = slack.incoming_webhook(self.path, _payload(headers, raw))
                    self._send(status, {"Content-Type": "text/html"}, body)
                else:
                    self._send(404, {}, b"not found")

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def _payload(headers: dict[str, str], raw: bytes) -> Any:
    if headers.get("content-type", "").startswith("application/json"):
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None
    return dict(parse_qsl(raw.decode("utf-8", "replace")))


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A running FakeSlack, shut down after the test."""
    with FakeSlack() as slack:
        yield slack
