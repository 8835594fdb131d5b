"""Posting a JSON message to a chat incoming webhook (Slack, Teams) through the outbound guard.

An incoming-webhook URL is a credential: whoever knows it can post to the channel. It is
never shown in a result, an error or a log line — httpx logs every request's full URL at
INFO, so while a chat webhook is being called that log record shows only the origin.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from engine.actions.errors import ActionError
from engine.actions.step_context import StepContext
from engine.actions.webhook import WebhookRequest, WebhookResponse, send_webhook
from engine.actions.webhook_action import policy_for, redact
from engine.security import env_references
from engine.security.crypto import Vault
from engine.security.secret_fields import echo_fragments

_ERROR_BODY_CHARS = 200
_ONE_ATTEMPT_PREFIX = "webhook failed after 1 attempt(s): "
_hiding_urls: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "wf_hiding_request_urls", default=False
)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what may be shown of a secret URL."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"
    except ValueError:
        return "<url>"


class _HideRequestUrls(logging.Filter):
    """Shows only the origin in httpx's request log line while a chat webhook is called."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if _hiding_urls.get() and isinstance(args, tuple) and len(args) >= 2:
            record.args = (args[0], origin_of(str(args[1])), *args[2:])
        return True


logging.getLogger("httpx").addFilter(_HideRequestUrls())


def webhook_url(
    explicit: Any, configured: SecretStr, service: str, setting: str, *, vault: Vault | None = None
) -> str:
    """The URL to call: the action's own (its reference already resolved from the
    definition's text), else the configured one, where ``${ENV}`` is resolved and an
    ``enc:v1:`` value decrypted with ``vault``.

    Raises a permanent ActionError when none is set, the variable is missing, or the
    value is not an http(s) URL (the value itself is never quoted).
    """
    own = str(explicit or "").strip()
    raw = own or configured.get_secret_value().strip()
    if not raw:
        raise ActionError(
            f"{service}: no webhook URL (set webhook_url on the action or {setting})",
            transient=False,
        )
    if own:
        url = own
    else:
        try:
            url = env_references.resolve(raw, vault=vault).strip()
        except env_references.MissingSecret as exc:
            raise ActionError(f"{service} webhook URL: {exc}", transient=False) from None
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        valid = False
    if not valid:
        raise ActionError(f"{service}: the webhook URL is not an http(s) URL", transient=False)
    return url


def post_json(
    url: str, payload: dict[str, Any], ctx: StepContext, *, timeout: float, service: str
) -> WebhookResponse:
    """POST ``payload`` once; failures become ActionErrors that name ``service``, not the URL.

    One attempt only: a transient failure goes back to the executor, which retries the
    step after the workflow's retry delay (or the peer's Retry-After, if longer).
    """
    token = _hiding_urls.set(True)
    secrets = echo_fragments([url, *ctx.secrets])
    try:
        response = send_webhook(
            WebhookRequest(
                method="POST",
                url=url,
                headers={},
                body=payload,
                idempotency_key=ctx.idempotency_key,
            ),
            policy=policy_for(ctx),
            timeout=timeout,
            max_retries=0,
            deadline=ctx.deadline,
        )
    except ActionError as exc:
        # The peer may echo the URL (whose path is the credential) back in its answer.
        named = _named_error(exc, service)
        named.message = redact(named.message, secrets)
        named.args = (named.message,)
        named.data = redact(named.data, secrets)
        raise named from None
    else:
        response.body = redact(response.body, secrets)
        return response
    finally:
        _hiding_urls.reset(token)


def _named_error(exc: ActionError, service: str) -> ActionError:
    status = exc.data.get("status_code")
    if status is None:
        message = f"{service} webhook: {exc.message.removeprefix(_ONE_ATTEMPT_PREFIX)}"
    else:
        body = str(exc.data.get("body") or "").strip()
        detail = f": {body[:_ERROR_BODY_CHARS]}" if body else ""
        message = f"{service} webhook answered HTTP {status}{detail}"
    return ActionError(message, transient=exc.transient, retry_after=exc.retry_after, data=exc.data)
