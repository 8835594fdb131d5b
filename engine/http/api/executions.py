"""``/api/executions``: list (filters, keyset pagination), get (steps and logs), retry, cancel.

The cursor is opaque to clients: URL-safe base64 of the last row's ``created_at`` and
id, the same keyset the console pages with, so a deep page costs one index seek. A cursor
that decodes but could not have come from this API (a time without a UTC offset or out of
range, an id that is not one) is a 400 naming ``cursor``, like a garbled one.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.access.roles import Permission
from engine.http.api.common import (
    ApiError,
    blocking,
    db_of,
    endpoint,
    iso,
    json_body,
    json_object,
    queue_of,
    read_one,
)
from engine.models import ExecutionStatus
from engine.services.control import cancel_executions, retry_executions
from engine.services.executions import (
    MAX_PAGE,
    Cursor,
    ExecutionDetail,
    cursor_of,
    get_execution,
    list_executions,
)
from engine.services.tokens import Identity

DEFAULT_PAGE = 50
MAX_IDS = 10_000
MAX_LOG_LINES = 5000


def encode_cursor(cursor: Cursor) -> str:
    """The opaque ``next_cursor`` string of a page."""
    raw = f"{cursor.created_at.isoformat()}|{cursor.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_EXECUTION_ID = re.compile(r"[0-9A-Za-z_-]{1,36}")
PAGE_PARAMETERS = (
    "status", "workflow", "trigger", "since", "until", "error", "where", "limit", "cursor",
)  # fmt: skip


def decode_cursor(text: str) -> Cursor:
    """The keyset position of a ``cursor`` parameter; 400 (field ``cursor``) when garbled
    or when it holds what ``encode_cursor`` never writes (a naive or out-of-range time, an
    id that is not one) — the database would refuse it only as an internal error."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        when, _, execution_id = raw.partition("|")
        created_at = datetime.fromisoformat(when)
        if created_at.tzinfo is None:
            raise ValueError("naive time")
        created_at = created_at.astimezone(UTC)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "not a cursor this API returned", "cursor") from None
    if _EXECUTION_ID.fullmatch(execution_id) is None:
        raise ApiError(400, "not a cursor this API returned", "cursor")
    return Cursor(created_at, execution_id)


def _timestamp(params: Any, field: str) -> datetime | None:
    """An ISO 8601 time in UTC (one without an offset is taken as UTC); 400 naming
    ``field`` when it is not one or lies outside what a UTC time can hold."""
    text = params.get(field)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace(" ", "+"))
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise ApiError(400, f"not an ISO 8601 time: {text[:40]!r}", field) from None


def _int(params: Any, field: str, default: int, low: int, high: int) -> int:
    """A whole number in ASCII digits from ``low`` to ``high``; 400 naming ``field``."""
    text = params.get(field)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 9 and low <= int(text) <= high):
        raise ApiError(400, f"give a whole number from {low} to {high}", field)
    return int(text)


def _filters(params: Any) -> dict[str, Any]:
    status = params.get("status")
    if status is not None:
        status = status.upper()
        if status not in ExecutionStatus.__members__:
            raise ApiError(400, f"unknown status (one of {', '.join(ExecutionStatus)})", "status")
    cursor = params.get("cursor")
    where = params.get("where")
    if where is not None:
        from engine.services.payload_search import WhereError, parse_where

        try:
            where = parse_where(where)
        except WhereError as exc:
            raise ApiError(400, str(exc), "where") from None
    return {
        "status": status,
        "workflow": params.get("workflow"),
        "trigger_type": params.get("trigger"),
        "since": _timestamp(params, "since"),
        "until": _timestamp(params, "until"),
        "error_contains": params.get("error") or None,
        "where": where,
        "limit": _int(params, "limit", DEFAULT_PAGE, 1, MAX_PAGE),
        "after": decode_cursor(cursor) if cursor else None,
    }


@endpoint(Permission.READ, query=PAGE_PARAMETERS)
async def list_route(request: Request, identity: Identity) -> Response:
    """``GET /api/executions``: a page, newest first, and the cursor of the next one."""
    filters = _filters(request.query_params)
    rows = await blocking(list_executions, db_of(request), **filters)
    more = len(rows) == filters["limit"]
    return JSONResponse(
        {
            "executions": [row.as_json() for row in rows],
            "next_cursor": encode_cursor(cursor_of(rows[-1])) if more else None,
        }
    )


def detail_json(detail: ExecutionDetail) -> dict[str, Any]:
    """One execution with its trigger data, result, steps and log lines."""
    return {
        **detail.row.as_json(),
        "trigger_data": detail.trigger_data,
        "result": detail.result,
        "available_at": iso(detail.available_at),
        "worker_id": detail.worker_id,
        "steps": [
            {
                "step_index": s.step_index,
                "action_type": s.action_type,
                "status": s.status,
                "result": s.result,
                "error": s.error,
                "attempt": s.attempt,
                "duration_ms": s.duration_ms,
            }
            for s in detail.steps
        ],
        "logs": [
            {
                "timestamp": iso(g.timestamp),
                "level": g.level,
                "message": g.message,
                "step_index": g.step_index,
                "data": g.data,
            }
            for g in detail.logs
        ],
    }


@endpoint(Permission.READ, query=("log_limit",))
async def get_route(request: Request, identity: Identity) -> Response:
    """``GET /api/executions/{id}`` (``?log_limit=N``, default 500)."""
    log_limit = _int(request.query_params, "log_limit", 500, 0, MAX_LOG_LINES)
    detail = await read_one(
        get_execution, db_of(request), request.path_params["id"], log_limit=log_limit
    )
    return JSONResponse(detail_json(detail))


async def _retry(request: Request, identity: Identity, ids: list[str]) -> Response:
    retried = await blocking(
        retry_executions, db_of(request), queue_of(request), ids,
        actor=identity.username, check_role=True,
    )  # fmt: skip
    return JSONResponse({"retried": retried})


async def _cancel(request: Request, identity: Identity, ids: list[str]) -> list[dict[str, str]]:
    results = await blocking(
        cancel_executions, db_of(request), ids, actor=identity.username, check_role=True
    )
    return [{"id": r.id, "outcome": r.outcome} for r in results]


@endpoint(Permission.OPERATE)
async def retry_one_route(request: Request, identity: Identity) -> Response:
    """``POST /api/executions/{id}/retry``: 409 unless FAILED or CANCELLED."""
    return await _retry(request, identity, [request.path_params["id"]])


@endpoint(Permission.OPERATE)
async def cancel_one_route(request: Request, identity: Identity) -> Response:
    """``POST /api/executions/{id}/cancel``: 409 when it already finished."""
    (result,) = await _cancel(request, identity, [request.path_params["id"]])
    if result["outcome"].startswith("already"):
        raise ApiError(409, f"execution {result['id']} is {result['outcome']}")
    return JSONResponse({"results": [result]})


async def _ids(request: Request) -> list[str]:
    ids = json_object(await json_body(request)).get("ids")
    if (
        not isinstance(ids, list)
        or not ids
        or len(ids) > MAX_IDS
        or not all(isinstance(i, str) and 0 < len(i) <= 36 for i in ids)
    ):
        raise ApiError(400, f"give 1 to {MAX_IDS} execution ids (strings)", "ids")
    return list(dict.fromkeys(ids))


@endpoint(Permission.OPERATE)
async def retry_many_route(request: Request, identity: Identity) -> Response:
    """``POST /api/executions/retry`` ``{"ids": [...]}``: all of them or none (404/409)."""
    return await _retry(request, identity, await _ids(request))


@endpoint(Permission.OPERATE)
async def cancel_many_route(request: Request, identity: Identity) -> Response:
    """``POST /api/executions/cancel`` ``{"ids": [...]}``: an outcome per id; 404 if unknown."""
    return JSONResponse({"results": await _cancel(request, identity, await _ids(request))})


ROUTES = [
    Route("/executions", list_route, methods=["GET"]),
    Route("/executions/retry", retry_many_route, methods=["POST"]),
    Route("/executions/cancel", cancel_many_route, methods=["POST"]),
    Route("/executions/{id}", get_route, methods=["GET"]),
    Route("/executions/{id}/retry", retry_one_route, methods=["POST"]),
    Route("/executions/{id}/cancel", cancel_one_route, methods=["POST"]),
]
