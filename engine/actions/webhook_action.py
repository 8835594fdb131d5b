"""The ``webhook`` action: an outbound HTTP call with an idempotency key."""

from __future__ import annotations

from typing import Any

from engine.actions.errors import ActionError
from engine.actions.step_context import ActionOutput, StepContext
from engine.actions.webhook import WebhookRequest, send_webhook
from engine.security.outbound import OutboundPolicy
from engine.security.secret_fields import MASK, echo_fragments, is_secret_header


def policy_for(ctx: StepContext) -> OutboundPolicy:
    """The outbound-safety policy from configuration."""
    security = ctx.settings.security
    return OutboundPolicy(
        allow_private_targets=security.allow_private_targets,
        allowed_hosts=tuple(security.allowed_hosts),
    )


def run_webhook(fields: dict[str, Any], ctx: StepContext) -> ActionOutput:
    """POST (or the configured method) the rendered body to the rendered URL."""
    workflow = ctx.settings.workflow
    headers = _headers(fields.get("headers") or {})
    sent = [v for name, v in headers.items() if is_secret_header(name) and len(v) >= 4]
    # What was sent, and each resolved secret on its own, in every spelling of an echo.
    secrets = echo_fragments([*sent, *(s for s in ctx.secrets if len(s) >= 4)])
    try:
        response = send_webhook(
            WebhookRequest(
                method=fields["method"],
                url=str(fields["url"]),
                headers=headers,
                body=fields.get("body"),
                idempotency_key=ctx.idempotency_key,
            ),
            policy=policy_for(ctx),
            timeout=float(fields.get("timeout") or workflow.webhook_timeout),
            max_retries=workflow.webhook_max_retries,
            deadline=ctx.deadline,
        )
    except ActionError as exc:
        # A peer may echo the request's credentials back (or a protocol error quote them).
        raise ActionError(
            redact(exc.message, secrets),
            transient=exc.transient,
            retry_after=exc.retry_after,
            data=redact(exc.data, secrets),
        ) from None
    return ActionOutput(
        data=redact(
            {
                "status_code": response.status_code,
                "body": response.body,
                "attempts": response.attempts,
                "elapsed_ms": round(response.elapsed_ms, 1),
            },
            secrets,
        ),
        summary=f"{fields['method']} → HTTP {response.status_code}",
    )


def _headers(rendered: dict[str, Any]) -> dict[str, str]:
    """Header values as sent (credentials were resolved from the definition's text)."""
    return {str(name): str(value) for name, value in rendered.items()}


def redact(value: Any, secrets: list[str]) -> Any:
    """``value`` (text or JSON data) with every occurrence of a secret masked."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {key: redact(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, secrets) for item in value]
    return value
