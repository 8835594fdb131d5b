"""The ``slack`` action: ``chat.postMessage`` with the bot token, or an incoming webhook.

Which way a message goes: the action's own ``webhook_url`` first; otherwise the bot token
(``slack.bot_token``, the channel is then required); otherwise ``slack.webhook_url``.

slack-sdk talks through urllib, not through the guarded httpx transport, so the API
host is resolved and checked against the outbound-safety rules just before the call.
That URL comes from configuration only (``slack.api_base_url``, default Slack's own),
never from a workflow definition. Webhook URLs do come from definitions, so webhooks
are posted through the guarded client, where every connection and redirect is checked.
"""

from __future__ import annotations

import http.client
import logging
from typing import Any, cast
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from engine.actions.chat_webhook import post_json, webhook_url
from engine.actions.errors import ActionError
from engine.actions.step_context import ActionOutput, StepContext
from engine.actions.webhook_action import policy_for
from engine.security.outbound import BlockedTarget, resolve_and_check

DEFAULT_API_BASE_URL = "https://slack.com/api/"

# ok:false answers worth retrying; every other error code (invalid_auth,
# channel_not_found, not_in_channel, is_archived, invalid_blocks …) is permanent.
TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)

logger = logging.getLogger(__name__)


def run_slack(fields: dict[str, Any], ctx: StepContext) -> ActionOutput:
    """Post the rendered text and/or blocks to Slack."""
    slack = ctx.settings.slack
    token = slack.bot_token.get_secret_value().strip()
    own_url = fields.get("webhook_url")
    if own_url or (not token and slack.webhook_url.get_secret_value().strip()):
        return _post_webhook(fields, ctx)
    if not token:
        raise ActionError(
            "Slack is not configured: set slack.bot_token (SLACK_BOT_TOKEN), "
            "slack.webhook_url (SLACK_WEBHOOK_URL) or the action's webhook_url",
            transient=False,
        )
    channel = str(fields.get("channel") or "").strip()
    if not channel:
        raise ActionError(
            "slack: 'channel' is required to post with the bot token", transient=False
        )
    return _post_message(token, channel, fields, ctx)


def _message(fields: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {}
    if fields.get("text"):
        message["text"] = str(fields["text"])
    if fields.get("blocks"):
        message["blocks"] = fields["blocks"]
    return message


def _post_webhook(fields: dict[str, Any], ctx: StepContext) -> ActionOutput:
    slack = ctx.settings.slack
    url = webhook_url(
        fields.get("webhook_url"),
        slack.webhook_url,
        "Slack",
        "slack.webhook_url",
        vault=ctx.db.vault,
    )
    payload = _message(fields)
    if fields.get("channel"):
        payload["channel"] = str(fields["channel"])  # honoured by legacy webhooks only
    response = post_json(url, payload, ctx, timeout=slack.timeout, service="Slack")
    return ActionOutput(
        data={"via": "webhook", "status_code": response.status_code, "body": response.body},
        summary=f"posted via Slack webhook (HTTP {response.status_code})",
    )


def _post_message(
    token: str, channel: str, fields: dict[str, Any], ctx: StepContext
) -> ActionOutput:
    slack = ctx.settings.slack
    base_url = slack.api_base_url.strip() or DEFAULT_API_BASE_URL
    _check_target(base_url, ctx)
    remaining = ctx.remaining()
    if remaining <= 0:
        raise ActionError("workflow timeout reached before calling Slack", transient=True)
    timeout = min(slack.timeout, remaining)
    client = WebClient(
        token=token,
        base_url=base_url,
        timeout=cast(int, timeout),  # urllib takes float seconds; the hint is too narrow
        retry_handlers=[],  # a failed call goes back to the executor's retry schedule
        logger=logger,
    )
    failure: ActionError | None = None
    try:
        response = client.chat_postMessage(channel=channel, **_message(fields))
    except SlackApiError as exc:
        failure = _api_error(exc.response)
    except (TimeoutError, URLError, OSError, http.client.HTTPException) as exc:
        failure = _network_error(exc, timeout)
    except SlackClientError as exc:
        failure = ActionError(f"Slack client error: {type(exc).__name__}", transient=False)
    if failure is not None:
        raise failure
    posted_to = str(response.get("channel") or channel)
    ts = str(response.get("ts") or "")
    return ActionOutput(
        data={"via": "api", "channel": posted_to, "ts": ts},
        summary=f"posted to {channel} (ts {ts})",
    )


def _check_target(base_url: str, ctx: StepContext) -> None:
    """Refuse a non-public API host unless allowed, as the guarded httpx client would."""
    try:
        parts = urlsplit(base_url)
        scheme, host, port = parts.scheme, parts.hostname, parts.port
    except ValueError:
        scheme, host, port = "", None, None
    if scheme not in ("http", "https") or not host:
        raise ActionError("slack.api_base_url is not an http(s) URL", transient=False)
    try:
        resolve_and_check(host, port or (443 if scheme == "https" else 80), policy_for(ctx))
    except BlockedTarget as exc:
        raise ActionError(str(exc), transient=False) from None
    except OSError as exc:
        raise ActionError(f"cannot resolve {host}: {exc}", transient=True) from None


def _api_error(response: Any) -> ActionError:
    """Classify a failed Web API call (a SlackResponse, or a dict for non-JSON bodies)."""
    if isinstance(response, dict):
        status, headers, data = response.get("status"), response.get("headers"), {}
    else:
        status, headers, data = response.status_code, response.headers, response.data
    error = str(data.get("error") or "") if isinstance(data, dict) else ""
    retry_after = None
    if status == 429 or error in ("ratelimited", "rate_limited"):
        retry_after = _seconds(_header(headers, "Retry-After"))
        transient = True
    else:
        transient = error in TRANSIENT_ERRORS or status in (408, 429) or (status or 0) >= 500
    result: dict[str, Any] = {"status_code": status}
    if error:
        result["error"] = error
    if retry_after is not None:
        result["retry_after"] = retry_after
    shown = error or f"HTTP {status}"
    wait = f", retry after {retry_after:g} s" if retry_after is not None else ""
    return ActionError(
        f"Slack API error: {shown}{wait}",
        transient=transient,
        retry_after=retry_after,
        data=result,
    )


def _seconds(value: str | None) -> float | None:
    """Slack's Retry-After is whole seconds; anything else is ignored."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == name.lower():
            return str(value[0] if isinstance(value, list) else value)
    return None


def _network_error(exc: BaseException, timeout: float) -> ActionError:
    reason = exc.reason if isinstance(exc, URLError) else exc
    if isinstance(reason, TimeoutError):
        return ActionError(f"Slack API timed out after {timeout:.3g} s", transient=True)
    detail = str(reason) or type(reason).__name__
    return ActionError(f"Slack API connection failed: {detail}", transient=True)
