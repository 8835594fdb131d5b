"""A real HTTP server on loopback that records requests and replies from a script."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest

from tests.loopback_server import LoopbackServer


@dataclass
class Reply:
    """One scripted reply; `delay` seconds pass (interruptibly) before it is sent."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class RecordedRequest:
    """What the sink saw: method, path, headers (lower-cased names), body, arrival time."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.monotonic)


class HttpSink(LoopbackServer):
    """A loopback server (TLS when given a context) that replies in script order."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[RecordedRequest] = []
        self.script: list[Reply] = []
        self.default = Reply()
        self._lock = threading.Lock()
        super().__init__(self._handler_class(), tls)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        """URL of `path` on this sink, addressed through `host`."""
        return f"{self._scheme}://{host}:{self.port}{path}"

    def reply(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        with self._lock:
            self.script.extend(replies)

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self.script.pop(0) if self.script else self.default

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = sink._next_reply(RecordedRequest(self.command, self.path, headers, body))
                if reply.delay and sink._stopping.wait(reply.delay):
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    """A running HttpSink, shut down after the test."""
    with HttpSink() as sink:
        yield sink
