"""``GET /api/executions/{id}/diff[?against=ID]``: a run beside another (VIEWER).

The same comparison as ``wfconsole executions diff --json``; without ``against``, the run
is compared with the newest successful run of its workflow (404 when there is none).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.access.roles import Permission
from engine.http.api.common import ApiError, blocking, db_of, endpoint
from engine.services.run_diff import NothingToCompare, diff_executions
from engine.services.tokens import Identity


@endpoint(Permission.READ, query=("against",))
async def diff_route(request: Request, identity: Identity) -> Response:
    """``GET /api/executions/{id}/diff``."""
    against = request.query_params.get("against") or None
    try:
        diff = await blocking(diff_executions, db_of(request), request.path_params["id"], against)
    except NothingToCompare as exc:
        raise ApiError(404, str(exc)) from None
    return JSONResponse(diff.as_json())


ROUTES = [Route("/executions/{id}/diff", diff_route, methods=["GET"])]
