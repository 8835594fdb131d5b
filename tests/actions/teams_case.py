"""The teams action in the contract suite: an HTTP sink on loopback as the Teams webhook."""

from __future__ import annotations

from contextlib import ExitStack

from tests.actions.contract import CANARY, HANG, SUCCESS, ActionCase, Staged
from tests.actions.smtp_peer import free_port
from tests.http_sink import HttpSink, Reply

_THROTTLED_IN_200 = (
    b"Webhook message delivery failed with error: Microsoft Teams endpoint returned "
    b"HTTP error 429 with ContextId tcid=0"
)
_REPLIES = {
    SUCCESS: Reply(status=200, body=b"1"),
    "rate_limited": Reply(status=429, headers={"Retry-After": "0"}),
    "server_error": Reply(status=503, body=b"unavailable"),
    "throttled_in_200": Reply(status=200, body=_THROTTLED_IN_200),
    "bad_request": Reply(status=400, body=b"Summary or Text is required."),
    "not_found": Reply(status=404, body=b"gone"),
    HANG: Reply(delay=30),
}


class TeamsCase(ActionCase):
    """The webhook URL is the secret, so the canary is in its path."""

    action_type = "teams"
    failures = {
        "rate_limited": True,
        "server_error": True,
        "throttled_in_200": True,
        "connection_refused": True,
        "bad_request": False,
        "not_found": False,
    }
    hang_transient = True

    def stage(self, behaviour: str, stack: ExitStack) -> Staged:
        path = f"/webhookb2/IncomingWebhook/{CANARY}"
        if behaviour == "connection_refused":
            url = f"http://127.0.0.1:{free_port()}{path}"
        else:
            sink = stack.enter_context(HttpSink())
            sink.default = _REPLIES[behaviour]
            url = sink.url(path)
        fields = {"title": "Invoice", "text": "Invoice 7 is due", "webhook_url": None}
        return Staged(
            fields={**fields, "theme_color": None, "card": "message"},
            config={"teams": {"webhook_url": url}},
        )
