"""What every ``/api`` route shares: bearer auth, the role check, JSON bodies and errors.

Errors are ``{"error": message, "field": path-or-null}``: 400 bad input (a definition
error names its JSON path, a bad path or query parameter its name), 401 no/invalid/revoked
token (with ``WWW-Authenticate: Bearer``), 403 role, 404 unknown workflow or execution, 409
a state conflict. Bad input never surfaces as a 500; storage trouble is a 503 with
``Retry-After``.

Every route declares its query parameters (``endpoint(..., query=...)``); before the
handler runs, each path and query parameter is checked alike: an unknown or repeated one,
text that is not UTF-8, NUL characters or more than MAX_PARAMETER characters are a 400
naming it. Handlers then parse their own (numbers, times, cursors) into 400s of the same
kind. JSON bodies are refused (400, the JSON path in ``field``) when storage could not keep
them: NaN, Infinity, NUL characters, lone surrogates.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from sqlalchemy.exc import DataError, DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from engine.access.roles import Permission, PermissionDenied, denial
from engine.definitions.json_values import MAX_VALUE_DEPTH, json_value_problem, nested_deeper_than
from engine.definitions.schema import MAX_DEFINITION_BYTES, DefinitionError
from engine.services.control import NotRetryable
from engine.services.executions import ExecutionNotFound, SearchTooBroad
from engine.services.tokens import Identity, authenticate
from engine.services.workflows import WorkflowNotFound
from engine.triggers.new_executions import WorkflowDisabled

log = logging.getLogger("wfconsole.api")
REALM = 'Bearer realm="wfconsole"'
MAX_PARAMETER = 1000
"""Characters a path or query parameter may have (names are at most 200, ids 36)."""
MAX_BODY_DEPTH = 4 * MAX_VALUE_DEPTH
"""Nesting a request body may have: a definition holds values of MAX_VALUE_DEPTH levels a
few levels down, and conditions of up to 32 levels (two JSON levels each)."""


class ApiError(Exception):
    """An answer other than success: status, one-line message, the field it concerns."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def error_response(
    status: int, message: str, field: str | None = None, **extra: Any
) -> JSONResponse:
    """The API's error body; 401s carry the Bearer challenge."""
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = REALM + (
            ', error="invalid_token"' if "invalid" in message else ""
        )
    if status == 503:
        headers["Retry-After"] = "5"
    return JSONResponse({"error": message, "field": field, **extra}, status, headers=headers)


def _answer_for(exc: Exception) -> JSONResponse:
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.message, exc.field)
    if isinstance(exc, DefinitionError):
        errors = [{"path": path, "message": message} for path, message in exc.errors]
        return error_response(400, exc.first_line, exc.errors[0][0] or None, errors=errors)
    if isinstance(exc, PermissionDenied):
        return error_response(403, str(exc))
    if isinstance(exc, WorkflowNotFound | ExecutionNotFound):
        return error_response(404, str(exc))
    if isinstance(exc, WorkflowDisabled | NotRetryable):
        return error_response(409, str(exc))
    if isinstance(exc, SearchTooBroad):
        return error_response(400, str(exc), "error")
    if isinstance(exc, ValueError):
        return error_response(400, str(exc))
    if isinstance(exc, DataError):  # e.g. a NUL character PostgreSQL cannot store
        return error_response(400, "a value in the request cannot be stored")
    if isinstance(exc, DBAPIError):
        log.exception("storage error in the API")
        return error_response(503, "temporarily unavailable")
    log.exception("unexpected error in the API")
    return error_response(500, "internal error")


def _utf8(raw: bytes, *, plus_is_space: bool = True) -> str | None:
    """Percent-decoded ``raw`` as UTF-8 text (in a query ``+`` is a space); None when it is
    not UTF-8 (the bytes of a lone surrogate included)."""
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ") if plus_is_space else raw).decode()
    except UnicodeDecodeError:
        return None


def _field_name(text: str) -> str:
    return text[:100]


def _check_value(field: str, value: str) -> None:
    if "\x00" in value:
        raise ApiError(400, "NUL characters are not allowed", field)
    if len(value) > MAX_PARAMETER:
        raise ApiError(400, f"longer than {MAX_PARAMETER} characters", field)


def check_parameters(request: Request, known: frozenset[str]) -> None:
    """400 naming the first bad path or query parameter (see the module docstring)."""
    seen: set[str] = set()
    for part in request.scope.get("query_string", b"").split(b"&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition(b"=")
        name, value = _utf8(raw_name), _utf8(raw_value)
        field = _field_name(name if name is not None else raw_name.decode("latin-1"))
        if name is None or name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise ApiError(400, f"unknown parameter (known: {listed})", field)
        if name in seen:
            raise ApiError(400, "parameter given more than once", field)
        seen.add(name)
        if value is None:
            raise ApiError(400, "not UTF-8 text (percent-encode UTF-8)", field)
        _check_value(field, value)
    raw_path = request.scope.get("raw_path")
    path_is_utf8 = raw_path is None or _utf8(raw_path, plus_is_space=False) is not None
    for field, value in request.path_params.items():
        if not path_is_utf8 and "\ufffd" in str(value):
            raise ApiError(400, "not UTF-8 text (percent-encode UTF-8)", field)
        _check_value(field, str(value))


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>``; 401 without one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token (Authorization: Bearer <token>)")
    return token.strip()


Handler = Callable[[Request, Identity], Awaitable[Response]]


def endpoint(
    permission: Permission, *, query: Iterable[str] = ()
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler: authenticate (401), check ``permission`` (403), check the path and
    ``query`` parameters (400, naming the parameter), map errors to JSON."""
    known = frozenset(query)

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def route(request: Request) -> Response:
            try:
                token = bearer_token(request)
                identity = await run_in_threadpool(authenticate, db_of(request), token)
                if identity is None:
                    raise ApiError(401, "invalid, expired or revoked token")
                reason = denial(identity.role, permission)
                if reason is not None:
                    raise ApiError(403, reason)
                check_parameters(request, known)
                return await handler(request, identity)
            except Exception as exc:
                return _answer_for(exc)

        route.query_parameters = known  # type: ignore[attr-defined]  # (the OpenAPI test)
        return route

    return wrap


def db_of(request: Request) -> Any:
    """The receiver's database."""
    return request.app.state.receiver.db


def queue_of(request: Request) -> Any:
    """The receiver's queue (a ``Dispatcher``)."""
    return request.app.state.receiver.queue


async def json_body(request: Request, *, required: bool = True) -> Any:
    """The parsed JSON body (≤ 1 MiB); 400 when it is not JSON, 413 when too large."""
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_DEFINITION_BYTES:
                raise ApiError(413, "body larger than 1 MiB")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(400, "client disconnected") from None
    raw = b"".join(chunks)
    if not raw.strip():
        if required:
            raise ApiError(400, "a JSON body is required")
        return None
    if nested_deeper_than(raw, MAX_BODY_DEPTH):
        raise ApiError(400, f"body is nested deeper than {MAX_BODY_DEPTH} levels")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "body is not valid JSON") from None
    refuse_unstorable(value)
    return value


def refuse_unstorable(value: Any, prefix: str = "", limit: int | None = None) -> None:
    """400 naming the JSON path of the first value storage cannot keep alike on both
    backends (NaN, Infinity, NUL characters, lone surrogates; nesting past ``limit``):
    PostgreSQL would refuse it only at the insert, as a 503 or a failed run."""
    problem = json_value_problem(value, limit=limit)
    if problem is not None:
        subpath, why = problem
        field = (prefix + subpath).removeprefix(".") or None
        raise ApiError(400, f"{field}: {why}" if field else why, field)


def json_object(value: Any, what: str = "body") -> dict[str, Any]:
    """``value`` when it is a JSON object; 400 otherwise."""
    if not isinstance(value, dict):
        raise ApiError(400, f"{what} must be a JSON object", None if what == "body" else what)
    return value


async def blocking(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking service call off the event loop."""
    return await run_in_threadpool(function, *args, **kwargs)


async def read_one(function: Callable[..., Any], db: Any, *args: Any, **kwargs: Any) -> Any:
    """``function(db, ...)`` for one named thing, read on the replica when configured.

    A miss is asked again on the primary before it becomes a 404: a client that has just
    created the thing (``POST …/run`` then ``GET /api/executions/{id}``) must find it even
    while the replica lags. Lists are served by the replica as they are.
    """
    try:
        return await run_in_threadpool(function, db, *args, **kwargs)
    except LookupError:
        if not db.has_replica:
            raise
    return await run_in_threadpool(function, db.on_primary(), *args, **kwargs)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as the CLI's JSON writes it."""
    return value.isoformat().replace("+00:00", "Z") if value else None
