"""The ASGI application of ``wfconsole serve``: ``POST /hooks/{path}`` and ``GET /health``.

Hook requests are checked in the contract's order — path (404), rate limit (429), size
(413, counted while reading so a chunked body cannot slip past), signature (401,
including replays), body (400) — and answered 202 with the new execution ids once the
rows are committed and enqueued. Storage trouble is a 503 with ``Retry-After``, never a
500: a sender retries, and nothing half-done is left (the rows commit before enqueue).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.config import Settings
from engine.db import Database
from engine.http.api import api_mount
from engine.http.health import health_document
from engine.http.hooks import Hook, HooksChanged, hooks_on, start_hooks
from engine.http.limits import Limits
from engine.http.metrics import metrics_endpoint
from engine.http.signature import SignatureError, verify
from engine.json_values import json_value_problem
from engine.runs import Dispatcher
from engine.secrets_env import MissingSecret, resolve

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


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


class BadBody(Exception):
    """The body is not a JSON object that can be stored (the message says why)."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, refused when storing it would fail on either backend."""
    try:
        data: Any = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadBody("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadBody("body must be a JSON object")
    problem = json_value_problem(data, limit=None)
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
) -> tuple[list[Hook], str | None]:
    """Hooks without a secret, plus those whose secret signs this body; and the signature."""
    security = receiver.settings.security
    accepted, used, reason = [], None, "signature does not match"
    for hook in hooks:
        if hook.secret is None:
            accepted.append(hook)
            continue
        try:
            used = verify(
                resolve(hook.secret, vault=receiver.db.vault), header, body,
                now=receiver.clock(), tolerance=security.signature_tolerance,
            )  # fmt: skip
        except SignatureError as exc:
            reason = str(exc)
            continue
        except MissingSecret as exc:
            log.error("webhook secret of workflow %s is unavailable: %s", hook.workflow_id, exc)
            continue
        accepted.append(hook)
    if not accepted:
        raise SignatureError(reason)
    return accepted, used


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


def _accept(
    receiver: Receiver, path: str, hooks: list[Hook], signature: str | None, body: bytes
) -> Response:
    """Replay check, body, then the executions (committed, enqueued): one thread-pool trip."""
    # A signature stays valid for the tolerance on either side of its timestamp.
    keep = 2 * receiver.settings.security.signature_tolerance
    replay_key = f"{path}|{signature}" if signature is not None else None
    if replay_key is not None:
        try:
            fresh = receiver.limits.first_use(replay_key, keep)
        except Exception:
            log.exception("replay store unavailable")
            return _error(503, "temporarily unavailable", **{"Retry-After": "5"})
        if not fresh:
            return _error(401, "signature already used (replay)")
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
        if replay_key is not None:  # nothing was accepted: the sender's retry must pass
            with contextlib.suppress(Exception):
                receiver.limits.release(replay_key)
        return _error(503, "temporarily unavailable", **{"Retry-After": "5"})
    return JSONResponse({"executions": ids}, status_code=202)


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
    try:
        body = await _read_body(request, receiver.settings.security.webhook_max_body_bytes)
    except TooLarge:
        return _error(413, "body too large")
    except ClientDisconnect:
        return _error(400, "client disconnected")
    try:
        hooks, signature = _accepted_hooks(
            receiver, hooks, request.headers.get(SIGNATURE_HEADER), body
        )
    except SignatureError as exc:
        return _error(401, str(exc))
    return await run_in_threadpool(_accept, receiver, path, hooks, signature, body)


async def no_hook(request: Request) -> Response:
    """``POST /hooks``: there is no trigger without a path."""
    return _error(404, "no webhook trigger on this path")


async def health(request: Request) -> Response:
    """``GET /health``: 200 when the database and the queue answer, else 503."""
    receiver: Receiver = request.app.state.receiver
    document = await run_in_threadpool(health_document, receiver.db, receiver.queue_probe)
    return JSONResponse(document, status_code=200 if document["status"] == "healthy" else 503)


def create_app(receiver: Receiver) -> Starlette:
    """The ASGI app over one receiver (storage, queue, limits)."""
    app = Starlette(
        routes=[
            Route("/hooks/{path:path}", receive_hook, methods=["POST"]),
            # No path at all: a 404 like any unknown path, not the router's 307 to "/hooks/".
            Route("/hooks", no_hook, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            api_mount(),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ]
    )
    app.state.receiver = receiver
    return app
