"""The ``teams`` action: a card posted to a Microsoft Teams incoming webhook.

``card: "message"`` (the default) sends a MessageCard, what Office 365 connector
webhooks take; ``card: "adaptive"`` sends an Adaptive Card, what Teams workflow
(Power Automate) webhooks take. Connector webhooks answer ``200 "1"``, workflow webhooks
``202``; a connector that was throttled may still answer 200 with the real status in the
body ("… Microsoft Teams endpoint returned HTTP error 429 …"), which is classified by that
status.
"""

from __future__ import annotations

import re
from typing import Any

from engine.actions.chat_webhook import post_json, webhook_url
from engine.actions.errors import ActionError
from engine.actions.step_context import ActionOutput, StepContext

_DELIVERY_FAILED = "webhook message delivery failed"
_EMBEDDED_STATUS = re.compile(r"HTTP error (\d{3})")
_SUMMARY_CHARS = 80


def run_teams(fields: dict[str, Any], ctx: StepContext) -> ActionOutput:
    """Post the rendered title and text as a MessageCard or an Adaptive Card."""
    teams = ctx.settings.teams
    url = webhook_url(
        fields.get("webhook_url"),
        teams.webhook_url,
        "Teams",
        "teams.webhook_url",
        vault=ctx.db.vault,
    )
    title = str(fields.get("title") or "").strip() or None
    text = str(fields["text"])
    if fields.get("card") == "adaptive":
        payload = adaptive_card(title, text)
    else:
        payload = message_card(title, text, fields.get("theme_color"))
    response = post_json(url, payload, ctx, timeout=teams.timeout, service="Teams")
    _check_delivery(response.status_code, response.body)
    card = "adaptive card" if fields.get("card") == "adaptive" else "card"
    return ActionOutput(
        data={"status_code": response.status_code, "body": response.body},
        summary=f"{card} posted to Teams (HTTP {response.status_code})",
    )


def message_card(title: str | None, text: str, theme_color: Any = None) -> dict[str, Any]:
    """A legacy connector MessageCard."""
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": (title or text)[:_SUMMARY_CHARS],
        "text": text,
    }
    if title:
        card["title"] = title
    if theme_color:
        card["themeColor"] = str(theme_color).lstrip("#")
    return card


def adaptive_card(title: str | None, text: str) -> dict[str, Any]:
    """A message carrying one Adaptive Card: the title in bold, then the text."""
    body: list[dict[str, Any]] = []
    if title:
        body.append(
            {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True}
        )
    body.append({"type": "TextBlock", "text": text, "wrap": True})
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": body,
                },
            }
        ],
    }


def _check_delivery(status: int, body: str) -> None:
    """A 2xx whose body says delivery failed is a failure, classified by the status inside."""
    if _DELIVERY_FAILED not in body.lower():
        return
    match = _EMBEDDED_STATUS.search(body)
    inner = int(match.group(1)) if match else None
    transient = inner is not None and (inner in (408, 429) or inner >= 500)
    shown = f"HTTP error {inner}" if inner is not None else "delivery failed"
    raise ActionError(
        f"Teams webhook answered HTTP {status} but reported {shown}",
        transient=transient,
        data={"status_code": status, "body": body, "delivery_status": inner},
    )
