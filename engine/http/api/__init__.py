"""The REST API under ``/api``: workflows, executions and schedules, bearer tokens, roles
checked."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route

from engine.http.api import (
    destinations,
    executions,
    flow_control,
    replay,
    run_diff,
    schedules,
    workflows,
)
from engine.http.api.common import error_response
from engine.http.api.openapi import openapi_route

ROUTES: list[BaseRoute] = [
    Route("/openapi.json", openapi_route, methods=["GET"]),
    *workflows.ROUTES,
    *flow_control.ROUTES,
    *executions.ROUTES,
    *run_diff.ROUTES,
    *replay.ROUTES,
    *schedules.ROUTES,
    *destinations.ROUTES,
]
EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def unmatched(request: Request) -> Response:
    """JSON 405 (with ``Allow``) for a known path, JSON 404 for an unknown one."""
    allowed: set[str] = set()
    for route in ROUTES:
        match, _ = route.matches({**request.scope, "method": "-"})
        if match is Match.PARTIAL and isinstance(route, Route):
            allowed |= route.methods or set()
    if allowed:
        response = error_response(405, f"method {request.method} not allowed here")
        response.headers["Allow"] = ", ".join(sorted(allowed))
        return response
    return error_response(404, "no such API route (see /api/openapi.json)")


def api_mount() -> Mount:
    """Every ``/api`` route, to mount in the app."""
    return Mount("/api", routes=[*ROUTES, Route("/{rest:path}", unmatched, methods=EVERY_METHOD)])
