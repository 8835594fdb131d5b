"""The ASGI application of ``wfconsole serve``: ``POST /hooks/{path}``, ``GET /health``,
``GET /metrics`` and the REST API under ``/api``.

Hook requests are checked in the contract's order — path (404), rate limit (429), content
type (415: a JSON media type, so a web page cannot post to ``serve`` without a CORS
preflight), size (413, counted while reading so a chunked body cannot slip past), signature
(401, including replays of a signature on any path), body (400) — and answered 202 with the
new execution ids once the rows are committed and enqueued. Storage trouble is a 503 with
``Retry-After``, never a 500: a sender retries, and nothing half-done is left (the rows
commit before enqueue).

The client a request comes from (its rate limit, the access log) is the connecting
address, or behind ``http.trusted_proxies`` the one they forwarded for
(engine/http/clients.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.config import Settings
from engine.db import Database
from engine.definitions.json_values import MAX_VALUE_DEPTH, json_value_problem, nested_deeper_than
from engine.http.api import api_mount
from engine.http.api.common import error_response
from engine.http.clients import ForwardedClient, TrustedProxies
from engine.http.health import DetailGate, health_document, public_health
from engine.http.hooks import Hook, HooksChanged, hooks_on, start_hooks
from engine.http.limits import Limits
from engine.http.metrics import metrics_endpoint
from engine.http.signature import SignatureError, parse, verify
from engine.security.env_references import MissingSecret, resolve
from engine.triggers.new_executions import Dispatcher

log = logging.getLogger("wfconsole.http")
SIGNATURE_HEADER = "x-wf-signature"


class TooLarge(Exception):
    """The body passed the configured limit."""


@dataclass
class Receiver:
    """What the routes need: storage, queue, limits and the security settings."""

    settings: Settings
    db: Database
    queue: Dispatcher
    limits: Limits
    queue_probe: Callable[[], object]
    clock: Callable[[], float] = time.time
    health_gate: DetailGate = field(default_factory=DetailGate)


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


class BadBody(Exception):
    """The body is not a JSON object that can be stored (the message says why)."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, refused when storing it would fail on either backend, or
    when it nests deeper than a definition's values may (MAX_VALUE_DEPTH): the depth is
    counted on the raw bytes first, so no parser recurses into a hostile body."""
    if nested_deeper_than(body, MAX_VALUE_DEPTH):
        raise BadBody(f"body: nested deeper than {MAX_VALUE_DEPTH} levels")
    try:
        data: Any = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadBody("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadBody("body must be a JSON object")
    problem = json_value_problem(data, limit=MAX_VALUE_DEPTH)
    if problem is not None:
        subpath, why = problem
        raise BadBody(f"body{subpath}: {why}")
    return data


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _accepted_hooks(
    receiver: Receiver, hooks: list[Hook], header: str | None, body: bytes
) -> tuple[list[Hook], list[str]]:
    """Hooks without a secret, plus those whose secret signs this body; and the signatures
    this request spends: when one matched, every ``v1=`` of the header (a sender rotating
    secrets signs with both, and the other one must not stay fresh for another path)."""
    security = receiver.settings.security
    accepted, used, reason = [], set(), "signature does not match"
    for hook in hooks:
        if hook.secret is None:
            accepted.append(hook)
            continue
        try:
            used.add(verify(
                resolve(hook.secret, vault=receiver.db.vault), header, body,
                now=receiver.clock(), tolerance=security.signature_tolerance,
            ))  # fmt: skip
        except SignatureError as exc:
            reason = str(exc)
            continue
        except MissingSecret as exc:
            log.error("webhook secret of workflow %s is unavailable: %s", hook.workflow_id, exc)
            continue
        accepted.append(hook)
    if not accepted:
        raise SignatureError(reason)
    if used:
        used.update(parse(header)[1])
    return accepted, sorted(used)


class Unavailable(Exception):
    """A store the request needs did not answer (the message says which): a 503."""


def _admit(receiver: Receiver, path: str, client: str) -> tuple[list[Hook], float | None]:
    """The path's hooks, then the rate limit (when there are any): one thread-pool trip."""
    try:
        hooks = hooks_on(receiver.db, path)
    except Exception as exc:
        raise Unavailable("hook lookup failed") from exc
    if not hooks:
        return hooks, None
    limit = receiver.settings.security.rate_limit_per_minute
    try:
        return hooks, receiver.limits.hit(f"{client}|{path}", limit)
    except Exception as exc:
        raise Unavailable("rate limit store unavailable") from exc


def _release(receiver: Receiver, keys: list[str]) -> None:
    for key in keys:
        with contextlib.suppress(Exception):
            receiver.limits.release(key)


def _claim_signatures(receiver: Receiver, signatures: list[str]) -> Response | None:
    """Mark each signature used; a 401 when one already was (on any path), 503 when the
    replay store does not answer. A refusal releases what this request claimed.

    The key is the signature alone: the signed string does not name the path, so a
    signature is good for every path whose hooks share the secret — and used once on any
    of them, it is used up on all.
    """
    # A signature stays valid for the tolerance on either side of its timestamp.
    keep = 2 * receiver.settings.security.signature_tolerance
    claimed: list[str] = []
    for signature in signatures:
        try:
            fresh = receiver.limits.first_use(signature, keep)
        except Exception:
            log.exception("replay store unavailable")
            _release(receiver, claimed)
            return _error(503, "temporarily unavailable", **{"Retry-After": "5"})
        if not fresh:
            _release(receiver, claimed)
            return _error(401, "signature already used (replay)")
        claimed.append(signature)
    return None


def _accept(
    receiver: Receiver, path: str, hooks: list[Hook], signatures: list[str], body: bytes
) -> Response:
    """Replay check, body, then the executions (committed, enqueued): one thread-pool trip."""
    refused = _claim_signatures(receiver, signatures)
    if refused is not None:
        return refused
    try:
        data = _json_object(body)
    except BadBody as exc:
        return _error(400, str(exc))
    try:
        ids = start_hooks(receiver.db, receiver.queue, hooks, data)
    except Exception as exc:
        if isinstance(exc, HooksChanged):  # a workflow changed during the accept (a race)
            log.warning("webhook on %r not started: %s; answered 503", path, exc)
        else:
            log.exception("could not start webhook executions")
        _release(receiver, signatures)  # nothing was accepted: the sender's retry must pass
        return _error(503, "temporarily unavailable", **{"Retry-After": "5"})
    return JSONResponse({"executions": ids}, status_code=202)


_JSON_MEDIA_TYPE = re.compile(r"application/(?:[a-z0-9!#$&^_.+-]+\+)?json")


def json_media_type(request: Request) -> bool:
    """True for one ``Content-Type`` of ``application/json`` or ``application/<x>+json``
    (parameters such as ``charset`` allowed). Anything else — ``text/plain``, a form, no
    header — is what a web page may send cross-origin without a CORS preflight."""
    values = request.headers.getlist("content-type")
    if len(values) != 1:
        return False
    media_type = values[0].partition(";")[0].strip().lower()
    return _JSON_MEDIA_TYPE.fullmatch(media_type) is not None


async def receive_hook(request: Request) -> Response:
    """``POST /hooks/{path}``: start every enabled workflow listening on the path.

    Two trips to the thread pool: hooks + rate limit before the body is read, replay +
    insert + enqueue after the signature (each trip costs ~50 µs of CPU).
    """
    receiver: Receiver = request.app.state.receiver
    path = request.path_params["path"]
    client = request.client.host if request.client else "unknown"
    try:
        hooks, wait = await run_in_threadpool(_admit, receiver, path, client)
    except Unavailable as exc:
        log.error("%s", exc, exc_info=exc.__cause__)
        return _error(503, "temporarily unavailable", **{"Retry-After": "5"})
    if not hooks:
        return _error(404, "no webhook trigger on this path")
    if wait is not None:
        return _error(429, "rate limit exceeded", **{"Retry-After": str(int(wait))})
    if not json_media_type(request):
        return _error(415, "Content-Type must be application/json")
    try:
        body = await _read_body(request, receiver.settings.security.webhook_max_body_bytes)
    except TooLarge:
        return _error(413, "body too large")
    except ClientDisconnect:
        return _error(400, "client disconnected")
    try:
        hooks, signatures = _accepted_hooks(
            receiver, hooks, request.headers.get(SIGNATURE_HEADER), body
        )
    except SignatureError as exc:
        return _error(401, str(exc))
    return await run_in_threadpool(_accept, receiver, path, hooks, signatures, body)


async def no_hook(request: Request) -> Response:
    """``POST /hooks``: there is no trigger without a path."""
    return _error(404, "no webhook trigger on this path")


def _health(receiver: Receiver, authorization: str | None) -> dict[str, Any]:
    document = health_document(receiver.db, receiver.queue_probe)
    if receiver.health_gate.allows(receiver.db, authorization):
        return document
    return public_health(document)


async def health(request: Request) -> Response:
    """``GET /health``: 200 when the database and the queue answer, else 503.

    Everyone sees each check's up/down state and the workflow counts; the error text of a
    check that is down (host names, user names) only a request with a valid API token.
    """
    receiver: Receiver = request.app.state.receiver
    authorization = request.headers.get("authorization")
    document = await run_in_threadpool(_health, receiver, authorization)
    return JSONResponse(document, status_code=200 if document["status"] == "healthy" else 503)


async def not_found(request: Request, exc: Exception) -> Response:
    """A URL no route matches (e.g. a control character the path patterns refuse): JSON."""
    if request.url.path.startswith("/api/"):
        return error_response(404, "no such API route (see /api/openapi.json)")
    return _error(404, "not found")


def create_app(receiver: Receiver) -> Starlette:
    """The ASGI app over one receiver (storage, queue, limits).

    Host it with uvicorn's ``proxy_headers=False`` (as ``wfconsole serve`` does): which
    forwarded headers to believe is ``http.trusted_proxies``' business, not uvicorn's.
    """
    proxies = TrustedProxies(receiver.settings.http.trusted_proxies)
    app = Starlette(
        routes=[
            Route("/hooks/{path:path}", receive_hook, methods=["POST"]),
            # No path at all: a 404 like any unknown path, not the router's 307 to "/hooks/".
            Route("/hooks", no_hook, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            api_mount(),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        middleware=[Middleware(ForwardedClient, proxies=proxies)],
        exception_handlers={404: not_found},
    )
    app.state.receiver = receiver
    return app
