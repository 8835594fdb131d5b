"""The ``sms`` action: one text message through Twilio's Messages API.

Twilio has no idempotency key, so a request that was sent but got no answer (a read
timeout, a dropped connection) may or may not have created the message. Sending it
again on a retry could text the recipient twice, so that case fails the step
*permanently* with ``outcome unknown`` and the request time in the result: an operator
checks Twilio's message log and retries the execution by hand if nothing went out.
A request that never reached Twilio (no connection, connect timeout) is transient.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from engine.actions.errors import ActionError
from engine.actions.step_context import ActionOutput, StepContext
from engine.actions.twilio_http import AnswerLost, GuardedTwilioHttpClient, RequestNotSent
from engine.actions.webhook_action import policy_for

logger = logging.getLogger(__name__)

UNSUBSCRIBED = 21610
_RATE_LIMITED = 429


def run_sms(fields: dict[str, Any], ctx: StepContext) -> ActionOutput:
    """Send the rendered body to the rendered number from the configured Twilio number."""
    twilio = ctx.settings.twilio
    token = twilio.auth_token.get_secret_value()
    if not (twilio.account_sid and token and twilio.phone_number):
        raise ActionError(
            "sms is not configured: set twilio.account_sid, twilio.auth_token and "
            "twilio.phone_number (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER)",
            transient=False,
        )
    to = str(fields["to"]).strip()
    http = GuardedTwilioHttpClient(policy_for(ctx), timeout=twilio.timeout, deadline=ctx.deadline)
    client = Client(twilio.account_sid, token, http_client=http)
    if twilio.api_base_url:
        client.api.base_url = twilio.api_base_url.rstrip("/")
        # TWILIO_EDGE / TWILIO_REGION would rewrite the host of the configured URL.
        client.edge = client.region = None
    sent_at = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        message = client.messages.create(to=to, from_=twilio.phone_number, body=fields["body"])
    except RequestNotSent as exc:
        raise ActionError(str(exc), transient=not exc.blocked) from None
    except AnswerLost as exc:
        raise ActionError(
            f"outcome unknown: {exc}; the SMS may have been sent, so it is not sent again "
            "automatically — check Twilio's message log, then retry by hand if needed",
            transient=False,
            data={"outcome": "unknown", "to": to, "requested_at": sent_at},
        ) from None
    except TwilioException as exc:
        raise _twilio_error(exc) from None
    finally:
        http.close()
    logger.debug("sms %s to %s: %s", message.sid, to, message.status)
    return ActionOutput(
        data={
            "sid": message.sid,
            "status": message.status,
            "to": message.to or to,
            "segments": message.num_segments,
        },
        summary=f"SMS {message.sid} {message.status}",
    )


def _twilio_error(exc: TwilioException) -> ActionError:
    """Classify a Twilio API error: 429 and 5xx transient; 21610 and other 4xx final."""
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    text = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", "")
    if status is None:
        # An unreadable answer to the create: the message may exist, as with no answer.
        return ActionError(
            f"outcome unknown: unreadable answer from Twilio ({type(exc).__name__})",
            transient=False,
            data={"outcome": "unknown"},
        )
    data: dict[str, Any] = {"status_code": status, "twilio_code": code}
    if code == UNSUBSCRIBED:
        return ActionError(
            f"recipient has unsubscribed (Twilio error {code}): {text}",
            transient=False,
            data=data,
        )
    transient = status == _RATE_LIMITED or status >= 500
    return ActionError(
        f"Twilio error {code} (HTTP {status}): {text}", transient=transient, data=data
    )
