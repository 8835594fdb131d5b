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
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
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
from engine.http.api import api_mount
from engine.http.api.common import error_response
from engine.http.clients import ForwardedClient, TrustedProxies
from engine.http.group_commit import Rounds
from engine.http.health import DetailGate, health_document, public_health
from engine.http.hook_rounds import HookRequest, error_answer, hook_round
from engine.http.limits import Limits, OverLimit
from engine.http.metrics import metrics_endpoint
from engine.http.round_redis import round_store
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
    over_limit: OverLimit = field(default_factory=OverLimit)
    """Rate-limit keys this process saw over their limit in the current window."""


_error = error_answer


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

    The checks that need no store (content type, size) run on the event loop; then the
    request goes, once, to the receiver's rounds (engine/http/hook_rounds.py), which look
    up the hooks, count the rate limit, check the signature and the replay, insert and
    enqueue for every request waiting at once, and answer it in the contract's order.
    """
    rounds: Rounds = request.app.state.rounds
    rounds.enter()
    try:
        return await _receive_hook(request, rounds)
    finally:
        rounds.leave()


async def _receive_hook(request: Request, rounds: Rounds) -> Response:
    receiver: Receiver = request.app.state.receiver
    owed: JSONResponse | None = None
    body = b""
    if not json_media_type(request):
        owed = _error(415, "Content-Type must be application/json")
    else:
        try:
            body = await _read_body(request, receiver.settings.security.webhook_max_body_bytes)
        except TooLarge:
            owed = _error(413, "body too large")
        except ClientDisconnect:
            owed = _error(400, "client disconnected")
    client = request.client.host if request.client else "unknown"
    job = HookRequest(
        request.path_params["path"], client, request.headers.get(SIGNATURE_HEADER), body, owed
    )
    response: Response = await rounds.submit(job)
    return response


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
    store = round_store(receiver.limits, receiver.queue)
    rounds = Rounds(functools.partial(hook_round, receiver, store), name="wfconsole-hooks")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            rounds.close()

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
        lifespan=lifespan,
    )
    app.state.receiver = receiver
    app.state.rounds = rounds
    return app
