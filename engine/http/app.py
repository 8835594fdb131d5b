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
import json
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
from engine.definitions.json_values import MAX_VALUE_DEPTH, json_value_problem, nested_deeper_than
from engine.http.api import api_mount
from engine.http.api.common import error_response
from engine.http.clients import ForwardedClient, TrustedProxies
from engine.http.group_commit import Answer, Job, Rounds
from engine.http.health import DetailGate, health_document, public_health
from engine.http.hooks import Hook, hooks_on
from engine.http.hooks import start_requests as start_hooks  # a round's inserts (tests patch it)
from engine.http.limits import Limits, first_use_many, hit_many, release_many
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


def _unavailable(message: str, cause: BaseException) -> Unavailable:
    error = Unavailable(message)
    error.__cause__ = cause
    return error


class _Admit(Job):
    """A new request: its path's hooks, then its rate limit."""

    def __init__(self, path: str, client: str) -> None:
        self.path = path
        self.client = client


class _Accept(Job):
    """A request whose signature holds: replay check, then its executions."""

    def __init__(
        self,
        path: str,
        hooks: list[Hook],
        signatures: list[str],
        data: dict[str, Any],
        problem: str | None,
    ) -> None:
        self.path = path
        self.hooks = hooks
        self.signatures = signatures
        self.data = data
        self.problem = problem  # the body is not storable: a 400 once the replay check passed


def _round(receiver: Receiver, jobs: list[Job], answer: Answer) -> None:
    """One round of requests (engine/http/group_commit.py): the new ones are answered
    after one Redis pipeline, the accepted ones after one transaction and one enqueue."""
    admits = [job for job in jobs if isinstance(job, _Admit)]
    accepts = [job for job in jobs if isinstance(job, _Accept)]
    if admits:
        answer(_admit(receiver, admits))
    if accepts:
        answer(_accept(receiver, accepts))


def _admit(receiver: Receiver, jobs: list[_Admit]) -> list[tuple[Job, Any]]:
    """Each request's hooks, then (when there are any) its rate limit: one read of the
    cache's number and one Redis pipeline for the round."""
    db = receiver.db
    found: dict[str, list[Hook] | Unavailable] = {}
    try:
        generation = db.workflow_cache.generation(db)
    except Exception as exc:
        failed = _unavailable("hook lookup failed", exc)
        return [(job, failed) for job in jobs]
    for path in dict.fromkeys(job.path for job in jobs):
        try:
            found[path] = hooks_on(db, path, generation=generation)
        except Exception as exc:
            found[path] = _unavailable("hook lookup failed", exc)
    results: list[tuple[Job, Any]] = []
    counted: list[_Admit] = []
    for job in jobs:
        hooks = found[job.path]
        if isinstance(hooks, Unavailable) or not hooks:
            results.append((job, hooks if isinstance(hooks, Unavailable) else (hooks, None)))
        else:
            counted.append(job)
    limit = receiver.settings.security.rate_limit_per_minute
    try:
        waits = hit_many(receiver.limits, [(f"{job.client}|{job.path}", limit) for job in counted])
    except Exception as exc:
        failed = _unavailable("rate limit store unavailable", exc)
        return results + [(job, failed) for job in counted]
    for job, wait in zip(counted, waits, strict=True):
        results.append((job, (found[job.path], wait)))
    return results


def _accept(receiver: Receiver, jobs: list[_Accept]) -> list[tuple[Job, Any]]:
    """Replay checks (one Redis pipeline), then the executions of every request that
    passed (one transaction, one enqueue: ``start_hooks``). A request refused after its
    signatures were claimed releases them, so the sender's retry passes."""
    # A signature stays valid for the tolerance on either side of its timestamp.
    keep = 2 * receiver.settings.security.signature_tolerance
    unavailable = _error(503, "temporarily unavailable", **{"Retry-After": "5"})
    try:
        fresh = first_use_many(receiver.limits, [s for job in jobs for s in job.signatures], keep)
    except Exception:
        log.exception("replay store unavailable")
        return [(job, unavailable) for job in jobs]
    results: list[tuple[Job, Any]] = []
    release: list[str] = []
    starting: list[_Accept] = []
    position = 0
    for job in jobs:
        mine = fresh[position : position + len(job.signatures)]
        position += len(job.signatures)
        if not all(mine):
            # Used already (on any path): the key is the signature alone, so a signature
            # shared by hooks with one secret is used up on all of them.
            release.extend(s for s, claimed in zip(job.signatures, mine, strict=True) if claimed)
            results.append((job, _error(401, "signature already used (replay)")))
        elif job.problem is not None:
            results.append((job, _error(400, job.problem)))
        else:
            starting.append(job)
    if starting:
        try:
            started = start_hooks(
                receiver.db, receiver.queue, [(job.hooks, job.data) for job in starting]
            )
        except Exception:
            log.exception("could not start webhook executions")
            started = None
        for index, job in enumerate(starting):
            outcome = None if started is None else started[index]
            if isinstance(outcome, list):
                results.append((job, JSONResponse({"executions": outcome}, status_code=202)))
                continue
            if outcome is not None:  # a workflow changed during the accept (a race)
                log.warning("webhook on %r not started: %s; answered 503", job.path, outcome)
            release.extend(job.signatures)  # nothing was accepted: the retry must pass
            results.append((job, unavailable))
    if release:
        with contextlib.suppress(Exception):
            release_many(receiver.limits, release)
    return results


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

    The checks that need no store run on the event loop; the hook lookup and rate limit,
    and then the replay check and the insert, each go to the receiver's rounds
    (engine/http/group_commit.py), which do them for every request waiting at once.
    """
    rounds: Rounds = request.app.state.rounds
    rounds.enter()
    try:
        return await _receive_hook(request, rounds)
    finally:
        rounds.leave()


async def _receive_hook(request: Request, rounds: Rounds) -> Response:
    path = request.path_params["path"]
    client = request.client.host if request.client else "unknown"
    try:
        hooks, wait = await rounds.submit(_Admit(path, client))
    except Unavailable as exc:
        log.error("%s", exc, exc_info=exc.__cause__)
        return _error(503, "temporarily unavailable", **{"Retry-After": "5"})
    if not hooks:
        return _error(404, "no webhook trigger on this path")
    if wait is not None:
        return _error(429, "rate limit exceeded", **{"Retry-After": str(int(wait))})
    if not json_media_type(request):
        return _error(415, "Content-Type must be application/json")
    receiver: Receiver = request.app.state.receiver
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
    data: dict[str, Any] = {}
    problem = None
    try:
        data = _json_object(body)
    except BadBody as exc:
        if not signatures:  # no replay to check first
            return _error(400, str(exc))
        problem = str(exc)
    response: Response = await rounds.submit(_Accept(path, hooks, signatures, data, problem))
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
    rounds = Rounds(functools.partial(_round, receiver), name="wfconsole-hooks")

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
