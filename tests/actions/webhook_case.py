"""The webhook action in the contract suite: a scripted HTTP sink on loopback."""

from __future__ import annotations

import socket
from contextlib import ExitStack

from tests.actions.contract import CANARY, HANG, SUCCESS, ActionCase, Staged
from tests.http_sink import HttpSink, Reply

_REPLIES = {
    SUCCESS: Reply(status=201, body=b'{"id": 7}'),
    "server_error": Reply(status=503, body=b"maintenance"),
    "rate_limited": Reply(status=429, headers={"Retry-After": "0"}),
    "request_timeout": Reply(status=408),
    "not_found": Reply(status=404, body=b"no such hook"),
    "unauthorized": Reply(status=401, body=b"denied"),
    HANG: Reply(delay=30),
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WebhookCase(ActionCase):
    """POST to an HttpSink; the canary rides in the Authorization header."""

    action_type = "webhook"
    failures = {
        "server_error": True,
        "rate_limited": True,
        "request_timeout": True,
        "connection_refused": True,
        "not_found": False,
        "unauthorized": False,
    }
    hang_transient = True

    def stage(self, behaviour: str, stack: ExitStack) -> Staged:
        if behaviour == "connection_refused":
            url = f"http://127.0.0.1:{_closed_port()}/hook"
        else:
            sink = stack.enter_context(HttpSink())
            sink.default = _REPLIES[behaviour]
            url = sink.url("/hook")
        return Staged(
            fields={
                "method": "POST",
                "url": url,
                "headers": {"Authorization": f"Bearer {CANARY}"},
                "body": {"order": 42},
                "timeout": None,
            },
            config={"workflow": {"webhook_max_retries": 1}},
        )
