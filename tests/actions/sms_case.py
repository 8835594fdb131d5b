"""The sms action in the contract suite: the real twilio client against a fake Twilio API."""

from __future__ import annotations

from contextlib import ExitStack

from tests.actions.contract import CANARY, SUCCESS, ActionCase, Staged
from tests.actions.smtp_peer import free_port
from tests.actions.twilio_peer import ACCOUNT_SID, PHONE_NUMBER, fake_twilio


class SmsCase(ActionCase):
    """The Twilio auth token is the canary; the fake API checks it (Basic auth)."""

    action_type = "sms"
    failures = {
        "unsubscribed": False,
        "rate_limited": True,
        "server_error": True,
        "bad_credentials": False,
        "connection_refused": True,
        "drop": False,  # sent, then the connection died: outcome unknown, not resent
    }
    hang_transient = False  # sent, no answer: outcome unknown, not resent

    def stage(self, behaviour: str, stack: ExitStack) -> Staged:
        if behaviour == "connection_refused":
            base_url = f"http://127.0.0.1:{free_port()}"
        else:
            token = "another-token" if behaviour == "bad_credentials" else CANARY
            mode = "ok" if behaviour in (SUCCESS, "bad_credentials") else behaviour
            base_url = stack.enter_context(fake_twilio(token, mode)).base_url
        return Staged(
            fields={"to": "+15550100", "body": "Invoice 7 is due"},
            config={
                "twilio": {
                    "account_sid": ACCOUNT_SID,
                    "auth_token": CANARY,
                    "phone_number": PHONE_NUMBER,
                    "api_base_url": base_url,
                }
            },
        )
