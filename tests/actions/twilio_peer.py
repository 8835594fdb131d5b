"""A fake Twilio REST API on loopback: the Messages resource the real twilio client calls.

``POST /2010-04-01/Accounts/{sid}/Messages.json`` with HTTP Basic auth (account SID and
auth token) and a form body. ``mode`` picks the answer: "ok" (201 and a message),
"unsubscribed" (400, error 21610), "rate_limited" (429, error 20429), "server_error"
(500), "hang" (never answers), "drop" (reads the request, then closes the connection).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ACCOUNT_SID = "AC" + "0" * 32
PHONE_NUMBER = "+15550001111"
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/Messages\.json$")
_ERRORS = {
    "unsubscribed": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "rate_limited": (429, 20429, "Too Many Requests"),
    "server_error": (500, 20500, "Internal Server Error"),
}


@dataclass
class FakeTwilio:
    """The server's state: how it answers, the token it accepts, the messages it made."""

    auth_token: str
    mode: str = "ok"
    created: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    port: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(
        self, path: str, authorization: str, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """The status and JSON body for one request."""
        self.requests += 1
        match = _MESSAGES.match(path)
        if match is None:
            return 404, _error(404, 20404, "The requested resource was not found")
        expected = base64.b64encode(f"{match['sid']}:{self.auth_token}".encode()).decode()
        if match["sid"] != ACCOUNT_SID or authorization != f"Basic {expected}":
            return 401, _error(401, 20003, "Authenticate")
        if self.mode in _ERRORS:
            status, code, text = _ERRORS[self.mode]
            return status, _error(status, code, text)
        message = {
            "sid": "SM" + uuid.uuid4().hex,
            "account_sid": ACCOUNT_SID,
            "to": form.get("To", ""),
            "from": form.get("From", ""),
            "body": form.get("Body", ""),
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
        }
        self.created.append(message)
        return 201, message


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            if fake.mode == "hang":
                fake.requests += 1
                fake.stopping.wait(30)
                return
            if fake.mode == "drop":
                fake.requests += 1
                self.close_connection = True
                return
            status, body = fake.answer(self.path, self.headers.get("Authorization", ""), form)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def fake_twilio(auth_token: str, mode: str = "ok") -> Iterator[FakeTwilio]:
    """Run a FakeTwilio on 127.0.0.1 (a free port) for the duration of the block."""
    fake = FakeTwilio(auth_token=auth_token, mode=mode)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    server.block_on_close = False
    server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
    fake.port = int(server.server_address[1])
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()
        server.shutdown()
        server.server_close()
