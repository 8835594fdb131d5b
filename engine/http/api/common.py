"""What every ``/api`` route shares: bearer auth, the role check, JSON bodies and errors.

Errors are ``{"error": message, "field": path-or-null}``: 400 bad input (a definition
error names its JSON path), 401 no/invalid/revoked token (with ``WWW-Authenticate:
Bearer``), 403 role, 404 unknown workflow or execution, 409 a state conflict. Bad input
never surfaces as a 500; storage trouble is a 503 with ``Retry-After``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from engine.definition import MAX_DEFINITION_BYTES, DefinitionError
from engine.roles import Permission, PermissionDenied, denial
from engine.runs import WorkflowDisabled
from engine.services.control import NotRetryable
from engine.services.executions import ExecutionNotFound, SearchTooBroad
from engine.services.tokens import Identity, authenticate
from engine.services.workflows import WorkflowNotFound

log = logging.getLogger("wfconsole.api")
REALM = 'Bearer realm="wfconsole"'


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


def _refuse_nul(request: Request) -> None:
    """400 for NUL characters in the path or query: no database stores them in text."""
    for field, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if "\x00" in str(value) or "\x00" in field:
            raise ApiError(400, "NUL characters are not allowed", field)


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>``; 401 without one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token (Authorization: Bearer <token>)")
    return token.strip()


Handler = Callable[[Request, Identity], Awaitable[Response]]


def endpoint(
    permission: Permission,
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler: authenticate (401), check ``permission`` (403), map errors to JSON."""

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
                _refuse_nul(request)
                return await handler(request, identity)
            except Exception as exc:
                return _answer_for(exc)

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
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "body is not valid JSON") from None
    where = nul_path(value)
    if where is not None:
        raise ApiError(400, "NUL characters are not allowed", where or None)
    return value


def nul_path(value: Any) -> str | None:
    """The JSON path of the first string holding a NUL character (PostgreSQL cannot store
    one in text or JSONB, so both backends refuse it alike), or None."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return path
        if isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    return path
                stack.append((f"{path}.{key}" if path else key, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
    return None


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
