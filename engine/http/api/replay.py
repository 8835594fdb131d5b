"""``POST /api/executions/{id}/replay``: fix forward (OPERATOR), as ``executions replay``.

Body (every field optional): ``{"from_step": N, "version": "original"|"latest",
"set": {"order.id": "o2", …}, "dry_run": false}``. A replay answers 202 with the new
execution's id and its plan; a dry run answers 200 with the plan and creates nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.access.roles import Permission
from engine.definitions.json_values import MAX_VALUE_DEPTH
from engine.http.api.common import (
    ApiError,
    blocking,
    db_of,
    endpoint,
    json_body,
    json_object,
    queue_of,
    refuse_unstorable,
)
from engine.services.replay import Patch, ReplayRefused, Version, replay_executions
from engine.services.tokens import Identity

FIELDS = frozenset({"from_step", "version", "set", "dry_run"})


def _options(body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise ApiError(400, f"unknown field (known: {', '.join(sorted(FIELDS))})", unknown[0])
    step = body.get("from_step")
    if step is not None and (type(step) is not int or not 0 <= step <= 10_000):
        raise ApiError(400, "a step number (0, 1, 2, …)", "from_step")
    version: Version = body.get("version", "original")
    if version not in ("original", "latest"):
        raise ApiError(400, 'one of "original", "latest"', "version")
    dry_run = body.get("dry_run", False)
    if type(dry_run) is not bool:
        raise ApiError(400, "true or false", "dry_run")
    changes = json_object(body.get("set", {}), "set")
    refuse_unstorable(changes, "set", limit=MAX_VALUE_DEPTH)
    patches = []
    for path, value in changes.items():
        parts = tuple(str(path).removeprefix("trigger.").split("."))
        if not path or any(not part for part in parts):
            raise ApiError(400, "a path like order.id", f"set.{path}")
        patches.append(Patch(parts, value))
    return {"from_step": step, "version": version, "patches": patches, "dry_run": dry_run}


@endpoint(Permission.OPERATE)
async def replay_route(request: Request, identity: Identity) -> Response:
    """``POST /api/executions/{id}/replay``."""
    body = await json_body(request, required=False)
    options = _options(json_object(body) if body is not None else {})
    try:
        [plan] = await blocking(
            replay_executions, db_of(request), queue_of(request),
            [request.path_params["id"]], actor=identity.username, **options,
        )  # fmt: skip
    except ReplayRefused as exc:
        raise ApiError(400, str(exc), exc.field) from None
    document = plan.as_json()
    if options["dry_run"]:
        return JSONResponse(document)
    return JSONResponse({"executions": [plan.new_id], "plan": document}, 202)


ROUTES = [Route("/executions/{id}/replay", replay_route, methods=["POST"])]
