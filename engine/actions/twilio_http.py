"""The twilio library's HTTP layer on our guarded httpx client, bounded by a deadline.

twilio's ``Client`` takes an ``http_client``; this one sends through
``engine.security.outbound`` (outbound-safety check, no proxies from the environment) and tells
apart a request that never reached Twilio (safe to send again) from one that was sent
but got no answer (the SMS may exist: sending again could deliver it twice).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from twilio.http import HttpClient
from twilio.http.response import Response

from engine.outbound.destinations import destination_of_url
from engine.outbound.gate import begin_call, end_call
from engine.security.outbound import BlockedTarget, OutboundPolicy, make_client

logger = logging.getLogger(__name__)


class RequestNotSent(Exception):
    """The request did not reach Twilio (refused target, no connection, connect timeout)."""

    def __init__(self, message: str, *, blocked: bool = False) -> None:
        super().__init__(message)
        self.blocked = blocked


class AnswerLost(Exception):
    """The request was sent but no complete answer came back: the outcome is unknown."""


class GuardedTwilioHttpClient(HttpClient):
    """A twilio ``HttpClient`` over a fresh guarded httpx client, closed with ``close()``.

    A fresh client per action run means no pooled keep-alive connection that the peer
    closed meanwhile, so a failure after sending really is "sent, no answer".
    """

    def __init__(self, policy: OutboundPolicy, *, timeout: float, deadline: float) -> None:
        super().__init__(logger, is_async=False, timeout=timeout)
        self._deadline = deadline
        self._client = make_client(policy, timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        """Close the connections of this client."""
        self._client.close()

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Make one request; raise RequestNotSent or AnswerLost instead of httpx errors."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise RequestNotSent("workflow timeout reached before the request was sent")
        limit = min(timeout or self.timeout or left, left)
        call = begin_call(destination_of_url(uri))
        try:
            try:
                resp = self._client.request(
                    method.upper(),
                    uri,
                    params=_query(params),
                    data=data,
                    headers=headers,
                    auth=httpx.BasicAuth(*auth) if auth else None,
                    timeout=limit,
                )
            except Exception as exc:
                end_call(call, error=True, transient=isinstance(exc, httpx.TransportError))
                raise
        except BlockedTarget as exc:
            raise RequestNotSent(str(exc), blocked=True) from None
        except (httpx.ConnectTimeout, httpx.PoolTimeout):
            raise RequestNotSent(f"no connection to Twilio within {limit:.3g} s") from None
        except (httpx.ConnectError, httpx.WriteError, httpx.WriteTimeout) as exc:
            raise RequestNotSent(f"could not send to Twilio: {_reason(exc)}") from None
        except httpx.TimeoutException:
            raise AnswerLost(f"no answer from Twilio within {limit:.3g} s") from None
        except httpx.TransportError as exc:
            raise AnswerLost(f"connection to Twilio lost: {_reason(exc)}") from None
        status = resp.status_code
        end_call(
            call,
            error=status >= 400,
            transient=status >= 500 or status == 429,
            status=status,
            retry_after=_retry_after(resp.headers.get("Retry-After")),
        )
        logger.debug("twilio %s %s -> HTTP %d", method, uri, resp.status_code)
        return Response(resp.status_code, resp.text, resp.headers)


def _query(params: dict[str, object] | None) -> dict[str, Any] | None:
    return {k: v for k, v in params.items() if v is not None} if params else None


def _retry_after(value: str | None) -> float | None:
    """A Retry-After in seconds (the HTTP-date form is not counted)."""
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
