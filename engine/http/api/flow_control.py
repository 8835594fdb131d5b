"""``/api/workflows/{name}/pause | resume | limit | flow``: flow control of one workflow.

As ``wfconsole workflow pause NAME [--for D]``, ``resume NAME [--catch-up P]`` and
``limit NAME [--concurrency N] [--rate R] [--for D]`` / ``--clear`` (``DELETE .../limit``),
with the options as query parameters. Pause and resume need OPERATOR, limits ADMIN; the
services check the role again and write the audit row. ``GET .../flow`` (VIEWER) says
whether it is paused, how many runs are held, what each catch-up policy would do, and the
limits in force.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.access.roles import Permission
from engine.http.api.common import ApiError, blocking, db_of, endpoint, iso, queue_of
from engine.services.flow_control import (
    FlowControlError,
    duration_argument,
    held_summary,
    pause,
    resume,
)
from engine.services.flow_limits import clear_limit, limit_state, set_limit
from engine.services.tokens import Identity

_QUERY_NAMES = {"for": "for", "catch-up": "catch_up", "catch_up": "catch_up", "limit": "limit"}


async def _call(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a flow-control service; its FlowControlError is a 400 naming the parameter."""
    try:
        return await blocking(function, *args, **kwargs)
    except FlowControlError as exc:
        field = str(exc).split(":", 1)[0]
        raise ApiError(400, str(exc), _QUERY_NAMES.get(field, field)) from None


@endpoint(Permission.OPERATE, query=("for", "catch_up"))
async def pause_route(request: Request, identity: Identity) -> Response:
    """``POST /api/workflows/{name}/pause[?for=DURATION&catch_up=POLICY]``."""
    query = request.query_params
    result = await _call(pause, db_of(request), request.path_params["name"],
                         actor=identity.username, for_=query.get("for"),
                         catch_up=query.get("catch_up"))  # fmt: skip
    return JSONResponse({"workflow": result.workflow, "paused": True, "changed": result.changed,
                         "paused_at": iso(result.paused_at),
                         "paused_until": iso(result.paused_until),
                         "catch_up": result.catch_up})  # fmt: skip


@endpoint(Permission.OPERATE, query=("catch_up",))
async def resume_route(request: Request, identity: Identity) -> Response:
    """``POST /api/workflows/{name}/resume[?catch_up=all|latest|skip|spread:DURATION]``."""
    result = await _call(resume, db_of(request), request.path_params["name"],
                         actor=identity.username,
                         catch_up=request.query_params.get("catch_up", "all"),
                         queue=queue_of(request))  # fmt: skip
    return JSONResponse({"workflow": result.workflow, "was_paused": result.was_paused,
                         "catch_up": result.catch_up, "held": result.held,
                         "started": len(result.started), "cancelled": result.cancelled,
                         "spread_until": iso(result.spread_until)})  # fmt: skip


@endpoint(Permission.EDIT, query=("concurrency", "rate", "for"))
async def limit_route(request: Request, identity: Identity) -> Response:
    """``POST /api/workflows/{name}/limit?concurrency=N&rate=N/s&for=DURATION``."""
    query = request.query_params
    if "concurrency" not in query and "rate" not in query:
        await _call(duration_argument, query.get("for"), "for")
        await _call(limit_state, db_of(request), request.path_params["name"])  # 404 first
        raise ApiError(400, "give concurrency, rate or both", "concurrency")
    state = await _call(set_limit, db_of(request), request.path_params["name"],
                        actor=identity.username, concurrency=query.get("concurrency"),
                        rate=query.get("rate"), for_=query.get("for"),
                        queue=queue_of(request))  # fmt: skip
    return JSONResponse(state.as_json(iso))


@endpoint(Permission.EDIT)
async def clear_limit_route(request: Request, identity: Identity) -> Response:
    """``DELETE /api/workflows/{name}/limit``: the definition's limits apply again."""
    state = await _call(clear_limit, db_of(request), request.path_params["name"],
                        actor=identity.username, queue=queue_of(request))  # fmt: skip
    return JSONResponse(state.as_json(iso))


@endpoint(Permission.READ)
async def flow_route(request: Request, identity: Identity) -> Response:
    """``GET /api/workflows/{name}/flow``: pause state, held runs, policies, limits."""
    name = request.path_params["name"]
    summary = await _call(held_summary, db_of(request), name)
    limits = await _call(limit_state, db_of(request), name)
    policies = {policy: {"start": effect.start, "cancel": effect.cancel,
                         "description": effect.description}
                for policy, effect in summary.policies.items()}  # fmt: skip
    return JSONResponse({
        "workflow": summary.workflow, "paused": summary.paused,
        "paused_at": iso(summary.paused_at), "paused_by": summary.paused_by,
        "paused_until": iso(summary.paused_until), "held": summary.held,
        "policies": policies, "limits": limits.as_json(iso),
    })  # fmt: skip


ROUTES = [
    Route("/workflows/{name}/pause", pause_route, methods=["POST"]),
    Route("/workflows/{name}/resume", resume_route, methods=["POST"]),
    Route("/workflows/{name}/limit", limit_route, methods=["POST"]),
    Route("/workflows/{name}/limit", clear_limit_route, methods=["DELETE"]),
    Route("/workflows/{name}/flow", flow_route, methods=["GET"]),
]
