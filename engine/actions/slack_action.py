"""The ``slack`` action: ``chat.postMessage`` with the bot token, or an incoming webhook.

Which way a message goes: the action's own ``webhook_url`` first; otherwise the bot token
(``slack.bot_token``, the channel is then required); otherwise ``slack.webhook_url``.

Both go through the guarded httpx client (engine/security/outbound.py), where every
connection is checked. ``chat.postMessage`` is one JSON POST with the bot token; it is not
sent through slack-sdk's ``WebClient``, whose urllib transport follows redirects to any
host with the token and cannot be told not to. A redirect from the Web API is not
followed: the step fails naming the status.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from engine.actions.chat_webhook import post_json, webhook_url
from engine.actions.errors import ActionError
from engine.actions.step_context import ActionOutput, StepContext
from engine.actions.webhook_action import policy_for
from engine.outbound.destinations import destination_of_url
from engine.outbound.gate import begin_call, end_call
from engine.security.outbound import BlockedTarget, get_client

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
    remaining = ctx.remaining()
    if remaining <= 0:
        raise ActionError("workflow timeout reached before calling Slack", transient=True)
    timeout = min(slack.timeout, remaining)
    client = get_client(policy_for(ctx), timeout=slack.timeout, follow_redirects=False)
    url = base_url.rstrip("/") + "/chat.postMessage"
    call = begin_call(destination_of_url(url))  # a held Slack API: the run waits
    try:
        try:
            response = client.post(
                url,
                json={"channel": channel, **_message(fields)},
                headers={"Authorization": f"Bearer {token}"},
                timeout=timeout,
            )
        except Exception as exc:
            end_call(call, error=True, transient=isinstance(exc, httpx.TransportError))
            raise
        status = response.status_code
        end_call(
            call,
            error=status >= 400,
            transient=status >= 500 or status == 429,
            status=status,
            retry_after=_seconds(response.headers.get("Retry-After")),
        )
        data = response.json() if response.content else None
    except BlockedTarget as exc:
        raise ActionError(str(exc), transient=False) from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise ActionError("slack.api_base_url is not an http(s) URL", transient=False) from None
    except httpx.TimeoutException:
        raise ActionError(f"Slack API timed out after {timeout:.3g} s", transient=True) from None
    except httpx.HTTPError as exc:
        detail = str(exc) or type(exc).__name__
        raise ActionError(f"Slack API connection failed: {detail}", transient=True) from None
    except ValueError:  # not JSON: classified by its status
        data = None
    if response.status_code != 200 or not isinstance(data, dict) or data.get("ok") is not True:
        raise _api_error(response.status_code, response.headers, data)
    posted_to = str(data.get("channel") or channel)
    ts = str(data.get("ts") or "")
    return ActionOutput(
        data={"via": "api", "channel": posted_to, "ts": ts},
        summary=f"posted to {channel} (ts {ts})",
    )


def _api_error(status: int, headers: httpx.Headers, data: Any) -> ActionError:
    """Classify a failed Web API call by its status and its ``error`` code."""
    error = str(data.get("error") or "") if isinstance(data, dict) else ""
    retry_after = None
    if status == 429 or error in ("ratelimited", "rate_limited"):
        retry_after = _seconds(headers.get("Retry-After"))
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
