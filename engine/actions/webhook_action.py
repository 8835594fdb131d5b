"""The ``webhook`` action: an outbound HTTP call with an idempotency key."""

from __future__ import annotations

from typing import Any

from engine.actions.registry import ActionOutput, StepContext, action
from engine.actions.webhook import WebhookRequest, send_webhook
from engine.outbound import OutboundPolicy


def policy_for(ctx: StepContext) -> OutboundPolicy:
    """The outbound-safety policy from configuration."""
    security = ctx.settings.security
    return OutboundPolicy(
        allow_private_targets=security.allow_private_targets,
        allowed_hosts=tuple(security.allowed_hosts),
    )


@action("webhook")
def run_webhook(fields: dict[str, Any], ctx: StepContext) -> ActionOutput:
    """POST (or the configured method) the rendered body to the rendered URL."""
    workflow = ctx.settings.workflow
    response = send_webhook(
        WebhookRequest(
            method=fields["method"],
            url=str(fields["url"]),
            headers={str(k): str(v) for k, v in (fields.get("headers") or {}).items()},
            body=fields.get("body"),
            idempotency_key=ctx.idempotency_key,
        ),
        policy=policy_for(ctx),
        timeout=float(fields.get("timeout") or workflow.webhook_timeout),
        max_retries=workflow.webhook_max_retries,
        deadline=ctx.deadline,
    )
    return ActionOutput(
        data={
            "status_code": response.status_code,
            "body": response.body,
            "attempts": response.attempts,
            "elapsed_ms": round(response.elapsed_ms, 1),
        },
        summary=f"{fields['method']} → HTTP {response.status_code}",
    )
