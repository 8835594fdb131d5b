"""The slack action in the contract suite, against a fake Slack on loopback."""

from __future__ import annotations

from contextlib import ExitStack

from tests.actions.contract import CANARY, HANG, ActionCase, Staged
from tests.actions.smtp_peer import free_port
from tests.fake_slack import FakeSlack

WEBHOOK_BEHAVIOURS = ("webhook_not_found", "webhook_rate_limited", "webhook_server_error")


class SlackCase(ActionCase):
    """The bot token is the canary; webhook behaviours carry it in the webhook URL instead."""

    action_type = "slack"
    failures = {
        "rate_limited": True,
        "server_error": True,
        "invalid_auth": False,
        "channel_not_found": False,
        "not_in_channel": False,
        "connection_refused": True,
        "webhook_not_found": False,
        "webhook_rate_limited": True,
        "webhook_server_error": True,
    }
    hang_transient = True

    def stage(self, behaviour: str, stack: ExitStack) -> Staged:
        fields = {"channel": "#general", "text": "Invoice 7 is due", "blocks": None}
        if behaviour == "connection_refused":
            base_url = f"http://127.0.0.1:{free_port()}/api/"
            return Staged(fields, {"slack": {"bot_token": CANARY, "api_base_url": base_url}})
        slack = stack.enter_context(FakeSlack())
        slack.token = "xoxb-someone-else" if behaviour == "invalid_auth" else CANARY
        slack.rate_limited_for = int(behaviour.endswith("rate_limited"))
        slack.server_errors = int(behaviour.endswith("server_error"))
        slack.delay = 30.0 if behaviour == HANG else 0.0
        if behaviour == "not_in_channel":
            slack.not_member.add("#general")
        if behaviour == "channel_not_found":
            fields["channel"] = "#nowhere"
        config = {"bot_token": CANARY, "api_base_url": slack.api_base_url}
        if behaviour in WEBHOOK_BEHAVIOURS:
            slack.webhook_path = f"/services/T000/B000/{CANARY}"
            hook = slack.webhook_url
            if behaviour == "webhook_not_found":
                slack.webhook_path = "/services/T000/B000/another"
            fields["webhook_url"] = hook
        return Staged(fields=fields, config={"slack": config})
