"""The OpenAPI 3.1 description of ``/api`` (served at ``GET /api/openapi.json``).

Written by hand from one table of operations, so it stays short; a test checks that
every mounted route is described and nothing else is.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

OBJECT: dict[str, Any] = {"type": "object"}
ERROR = {"$ref": "#/components/schemas/Error"}
PAGE_FILTERS = [
    ("status", "PENDING, RUNNING, SUCCESS, FAILED, CANCELLED or SKIPPED"),
    ("workflow", "exact workflow name"),
    ("trigger", "trigger type: manual, event, schedule or webhook"),
    ("since", "ISO 8601 time, inclusive (created_at)"),
    ("until", "ISO 8601 time, exclusive (created_at)"),
    ("error", "case-insensitive part of the error text"),
    ("where", "payload search, e.g. trigger.order = o2 and trigger.amount > 500"),
    ("limit", "page size, 1 to 1000 (default 50)"),
    ("cursor", "next_cursor of the previous page"),
]

# path, method, summary, role, request body, success status, error statuses
OPERATIONS: list[tuple[str, str, str, str, bool, int, tuple[int, ...]]] = [
    ("/workflows", "get", "List workflows", "VIEWER", False, 200, ()),
    ("/workflows", "post", "Create a workflow", "ADMIN", True, 201, (400, 409)),
    ("/workflows/{name}", "get", "A workflow and its definition", "VIEWER", False, 200, (404,)),
    ("/workflows/{name}", "put", "Save a new version", "ADMIN", True, 200, (400, 404)),
    ("/workflows/{name}", "delete", "Delete with its executions", "ADMIN", False, 200, (404,)),
    ("/workflows/{name}/enable", "post", "Enable", "ADMIN", False, 200, (404,)),
    ("/workflows/{name}/disable", "post", "Disable", "ADMIN", False, 200, (404,)),
    ("/workflows/{name}/run", "post", "Run now", "OPERATOR", True, 202, (400, 404, 409)),
    ("/workflows/{name}/pause", "post", "Pause: triggers are accepted, runs held",
     "OPERATOR", False, 200, (400, 404)),
    ("/workflows/{name}/resume", "post", "Resume with a catch-up policy", "OPERATOR", False,
     200, (400, 404)),
    ("/workflows/{name}/limit", "post", "Override the concurrency / rate limit", "ADMIN",
     False, 200, (400, 404)),
    ("/workflows/{name}/limit", "delete", "Drop the limit override", "ADMIN", False, 200,
     (404,)),
    ("/workflows/{name}/flow", "get", "Pause state, held runs, catch-up effects, limits",
     "VIEWER", False, 200, (404,)),
    ("/executions", "get", "List executions, newest first", "VIEWER", False, 200, (400,)),
    ("/executions/retry", "post", "Retry several", "OPERATOR", True, 200, (400, 404, 409)),
    ("/executions/cancel", "post", "Cancel several", "OPERATOR", True, 200, (400, 404)),
    ("/executions/{id}", "get", "An execution with steps and logs", "VIEWER", False, 200, (404,)),
    ("/executions/{id}/retry", "post", "Retry", "OPERATOR", False, 200, (404, 409)),
    ("/executions/{id}/cancel", "post", "Cancel", "OPERATOR", False, 200, (404, 409)),
    ("/executions/{id}/diff", "get", "Compare with another run (default: the last success)",
     "VIEWER", False, 200, (400, 404)),
    ("/executions/{id}/replay", "post", "Replay from a step (fix forward)", "OPERATOR", True,
     202, (400, 404, 409)),
    ("/schedules", "get", "Schedule triggers: next, last run, gaps, late starts", "VIEWER",
     False, 200, (400,)),
    ("/destinations", "get", "Outbound destinations: calls, errors, latency, 429s, circuit, "
     "holds", "VIEWER", False, 200, (400,)),
    ("/destinations/{destination}/hold", "post", "Hold a destination: its steps wait",
     "OPERATOR", False, 200, (400,)),
    ("/destinations/{destination}/release", "post", "Release it; the waiting runs are sent",
     "OPERATOR", False, 200, (400,)),
]  # fmt: skip

_FOR = ("for", "ends by itself after this long: 30s, 10m, 1h, 2d")
FLOW_PARAMETERS = {
    ("/workflows/{name}/pause", "post"): [
        _FOR, ("catch_up", "the policy of the resume when `for` is up (default all)")],
    ("/workflows/{name}/resume", "post"): [
        ("catch_up", "all (default), latest, skip or spread:DURATION")],
    ("/workflows/{name}/limit", "post"): [
        ("concurrency", "at most N runs at once"), ("rate", "N/s or N/m"), _FOR],
}  # fmt: skip

REQUEST_BODIES = {
    "/workflows": "A workflow definition (see DESIGN.md, Workflow definition).",
    "/workflows/{name}": "The whole definition; its name must stay the same.",
    "/workflows/{name}/run": 'Optional: {"data": {...}}, the trigger data.',
    "/executions/retry": '{"ids": ["<execution id>", ...]}',
    "/executions/cancel": '{"ids": ["<execution id>", ...]}',
    "/executions/{id}/replay": 'Optional: {"from_step": N, "version": "original"|"latest", '
    '"set": {"path": value}, "dry_run": false}',
}


def _parameters(path: str, method: str) -> list[dict[str, Any]]:
    params = [
        {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
        for part in path.split("/")
        if part.startswith("{")
    ]
    if (path, method) == ("/executions", "get"):
        params += [
            {"name": n, "in": "query", "description": d, "schema": {"type": "string"}}
            for n, d in PAGE_FILTERS
        ]
    if (path, method) == ("/executions/{id}/diff", "get"):
        params.append({"name": "against", "in": "query", "description": "the execution to "
                       "compare with", "schema": {"type": "string"}})  # fmt: skip
    if (path, method) == ("/schedules", "get"):
        params.append({"name": "window_hours", "in": "query", "description": "how many "
                       "hours back to look for gaps (default 24)",
                       "schema": {"type": "integer"}})  # fmt: skip
    if (path, method) == ("/destinations", "get"):
        params.append({"name": "window", "in": "query", "description": "5m (default), 1h "
                       "or 24h", "schema": {"type": "string"}})  # fmt: skip
    if (path, method) == ("/destinations/{destination}/hold", "post"):
        params.append({"name": "for", "in": "query", "description": "end the hold by "
                       "itself after this long: 30s, 10m, 1h, 2d",
                       "schema": {"type": "string"}})  # fmt: skip
    params += [
        {"name": name, "in": "query", "description": description, "schema": {"type": "string"}}
        for name, description in FLOW_PARAMETERS.get((path, method), ())
    ]
    if (path, method) == ("/executions/{id}", "get"):
        params.append(
            {"name": "log_limit", "in": "query", "schema": {"type": "integer", "default": 500}}
        )
    return params


def _operation(path: str, method: str, summary: str, role: str, body: bool, ok: int,
               errors: tuple[int, ...]) -> dict[str, Any]:  # fmt: skip
    responses: dict[str, Any] = {str(ok): {"description": "success", "content": _json(OBJECT)}}
    reasons = {400: "bad input (field: the JSON path or parameter)",
               401: "no, invalid or revoked token", 403: f"needs {role}",
               404: "not found", 409: "conflict with the current state"}  # fmt: skip
    # Any route: 400 for an unknown, repeated or malformed parameter.
    for status in sorted({400, *errors, 401, 403}):
        responses[str(status)] = {"description": reasons[status], "content": _json(ERROR)}
    operation: dict[str, Any] = {
        "summary": summary,
        "description": f"Needs the {role} role or higher.",
        "operationId": method + "_" + _slug(path),
        "parameters": _parameters(path, method),
        "responses": responses,
    }
    if body:
        operation["requestBody"] = {
            "required": method != "post" or not path.endswith("/run"),
            "description": REQUEST_BODIES[path],
            "content": _json(OBJECT),
        }
    return operation


def _slug(path: str) -> str:
    return path.strip("/").replace("/", "_").replace("{", "").replace("}", "")


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def openapi_document() -> dict[str, Any]:
    """The whole description; paths are relative to ``/api``."""
    paths: dict[str, dict[str, Any]] = {}
    for path, method, *rest in OPERATIONS:
        paths.setdefault(path, {})[method] = _operation(path, method, *rest)  # type: ignore[arg-type]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wfconsole REST API",
            "version": "1",
            "description": "Workflows and executions. Authenticate with "
            "`Authorization: Bearer <token>` (create one with `wfconsole token create`).",
        },
        "servers": [{"url": "/api"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "field": {
                            "type": ["string", "null"],
                            "description": "the JSON path or the parameter concerned",
                        },
                    },
                }
            },
        },
    }


async def openapi_route(request: Request) -> Response:
    """``GET /api/openapi.json``: public, no token needed."""
    return JSONResponse(openapi_document())
