"""Outbound webhook sender: one HTTP call with in-step retries, bounded by a deadline."""

from __future__ import annotations

import email.utils
import importlib.metadata
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from engine.actions.errors import ActionError
from engine.outbound.destinations import destination_of_url
from engine.outbound.gate import begin_call, end_call
from engine.security.outbound import BlockedTarget, OutboundPolicy, get_client
from engine.security.outbound_transport import RedirectRefused

logger = logging.getLogger(__name__)

BODY_LIMIT_CHARS = 2_000
TRUNCATION_MARKER = "… [truncated]"
# Enough bytes for BODY_LIMIT_CHARS of any UTF-8 text; the rest is never read.
_BODY_LIMIT_BYTES = BODY_LIMIT_CHARS * 4 + 4
_BACKOFF_BASE = 0.2
_BACKOFF_CAP = 5.0
_RETRY_AFTER_CAP = 30.0
_RETRYABLE_STATUSES = frozenset({408, 429})
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _package_version() -> str:
    try:
        return importlib.metadata.version("wfconsole")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


USER_AGENT = f"wfconsole/{_package_version()}"


@dataclass
class WebhookRequest:
    """What to send: the rendered method, URL, headers and JSON body of a webhook step."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any
    idempotency_key: str


@dataclass
class WebhookResponse:
    """The successful reply; `elapsed_ms` spans all attempts including backoff waits."""

    status_code: int
    body: str
    elapsed_ms: float
    attempts: int


@dataclass
class _Failure:
    """One failed attempt, as much as may be shown (never the request headers)."""

    message: str
    transient: bool
    status_code: int | None = None
    body: str | None = None
    retry_after: float | None = None

    def data(self, attempts: int) -> dict[str, Any]:
        data: dict[str, Any] = {"attempts": attempts}
        if self.status_code is not None:
            data["status_code"] = self.status_code
        if self.body is not None:
            data["body"] = self.body
        return data


def send_webhook(
    req: WebhookRequest,
    *,
    policy: OutboundPolicy,
    timeout: float,
    max_retries: int,
    deadline: float | None = None,
) -> WebhookResponse:
    """Send `req`, retrying transient failures up to `max_retries` times before `deadline`.

    `deadline` is a `time.monotonic()` value (the workflow timeout). Raises ActionError:
    transient for exhausted retries or a reached deadline, permanent for refused
    targets, bad URLs and 4xx replies other than 408/429.
    """
    method = req.method.upper()
    try:
        headers = httpx.Headers(req.headers)
    except UnicodeEncodeError:  # the value itself is never quoted: it may be a credential
        bad = next(name for name, value in req.headers.items() if not value.isascii())
        raise ActionError(
            f"headers.{bad}: a header value must be ASCII text", transient=False
        ) from None
    headers["User-Agent"] = USER_AGENT
    headers["Idempotency-Key"] = req.idempotency_key
    content = _encode_body(method, req.body, headers)
    client = get_client(policy, timeout=timeout)
    destination = destination_of_url(req.url)
    started = time.monotonic()
    attempts = 0
    while True:
        attempt_timeout = timeout
        if deadline is not None:
            attempt_timeout = min(timeout, deadline - time.monotonic())
            if attempt_timeout <= 0:
                raise _deadline_error(attempts, None)
        attempts += 1
        # Each attempt is one call of the destination: gated (a hold raises
        # DestinationWaiting), counted, and seen by the breaker.
        call = begin_call(destination)
        outcome = _attempt(client, method, req.url, headers, content, attempt_timeout, deadline)
        if isinstance(outcome, WebhookResponse):
            end_call(call, error=False, status=outcome.status_code)
        else:
            end_call(
                call,
                error=True,
                transient=outcome.transient,
                status=outcome.status_code,
                retry_after=outcome.retry_after,
            )
        if isinstance(outcome, WebhookResponse):
            outcome.attempts = attempts
            outcome.elapsed_ms = (time.monotonic() - started) * 1000.0
            return outcome
        logger.debug("webhook attempt %d failed: %s", attempts, outcome.message)
        if not outcome.transient:
            raise ActionError(outcome.message, transient=False, data=outcome.data(attempts))
        if attempts > max_retries:
            raise ActionError(
                f"webhook failed after {attempts} attempt(s): {outcome.message}",
                transient=True,
                retry_after=outcome.retry_after,
                data=outcome.data(attempts),
            )
        delay = min(_BACKOFF_BASE * 2 ** (attempts - 1), _BACKOFF_CAP)
        if outcome.retry_after is not None:
            delay = min(outcome.retry_after, _RETRY_AFTER_CAP)
        if deadline is not None and time.monotonic() + delay >= deadline:
            raise _deadline_error(attempts, outcome)
        time.sleep(delay)


def _encode_body(method: str, body: Any, headers: httpx.Headers) -> bytes | None:
    if body is None or method in _BODYLESS_METHODS:
        return None
    try:
        encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ActionError(f"webhook body is not JSON: {exc}", transient=False) from exc
    headers.setdefault("Content-Type", "application/json")
    return encoded.encode("utf-8")


def _attempt(
    client: httpx.Client,
    method: str,
    url: str,
    headers: httpx.Headers,
    content: bytes | None,
    timeout: float,
    deadline: float | None,
) -> WebhookResponse | _Failure:
    """Make one request; turn every outcome into a response or a classified failure."""
    give_up_at = time.monotonic() + timeout
    if deadline is not None:
        give_up_at = min(give_up_at, deadline)
    try:
        with client.stream(method, url, headers=headers, content=content, timeout=timeout) as resp:
            body = _read_body(resp, give_up_at)
            if body is None:
                return _Failure(f"timed out after {timeout:g} s reading the response", True)
    except BlockedTarget as exc:
        return _Failure(str(exc), transient=False)
    except httpx.TimeoutException:
        return _Failure(f"timed out after {timeout:g} s", transient=True)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
        return _Failure(f"invalid webhook request: {exc}", transient=False)
    except httpx.TooManyRedirects:
        return _Failure("too many redirects", transient=False)
    except RedirectRefused as exc:
        return _Failure(str(exc), transient=False)
    except httpx.TransportError as exc:
        return _Failure(f"connection failed: {str(exc) or type(exc).__name__}", transient=True)
    except httpx.DecodingError as exc:
        return _Failure(f"undecodable response: {exc}", transient=True)
    status = resp.status_code
    if status < 400:
        return WebhookResponse(status_code=status, body=body, elapsed_ms=0.0, attempts=0)
    transient = status >= 500 or status in _RETRYABLE_STATUSES
    retry_after = _parse_retry_after(resp.headers.get("Retry-After"))
    return _Failure(f"HTTP {status}", transient, status, body, retry_after)


def _read_body(resp: httpx.Response, give_up_at: float) -> str | None:
    """Read at most enough of the body to show; None when `give_up_at` passes first."""
    chunks: list[bytes] = []
    size = 0
    more = False
    for chunk in resp.iter_bytes():
        if time.monotonic() > give_up_at:
            return None
        if size >= _BODY_LIMIT_BYTES:
            more = True
            break
        chunks.append(chunk)
        size += len(chunk)
    raw = b"".join(chunks)
    if len(raw) > _BODY_LIMIT_BYTES:
        raw, more = raw[:_BODY_LIMIT_BYTES], True
    text = raw.decode(resp.encoding or "utf-8", errors="replace")
    if more or len(text) > BODY_LIMIT_CHARS:
        return text[:BODY_LIMIT_CHARS] + TRUNCATION_MARKER
    return text


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _deadline_error(attempts: int, last: _Failure | None) -> ActionError:
    detail = f"; last error: {last.message}" if last else ""
    data = last.data(attempts) if last else {"attempts": attempts}
    return ActionError(
        f"workflow timeout reached after {attempts} attempt(s){detail}",
        transient=True,
        retry_after=last.retry_after if last else None,
        data=data,
    )
