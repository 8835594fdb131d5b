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
from engine.services.executions import ExecutionNotFound
from engine.services.run_diff import NothingToCompare, diff_executions
from engine.services.tokens import Identity


@endpoint(Permission.READ, query=("against",))
async def diff_route(request: Request, identity: Identity) -> Response:
    """``GET /api/executions/{id}/diff``."""
    against = request.query_params.get("against")
    if against is not None and not _is_id(against):
        raise ApiError(400, "not an execution id", "against")
    try:
        diff = await blocking(diff_executions, db_of(request), request.path_params["id"], against)
    except NothingToCompare as exc:
        raise ApiError(404, str(exc)) from None
    except ExecutionNotFound as exc:
        if against is not None and exc.execution_id == against:
            raise ApiError(400, str(exc), "against") from None  # a query names no resource
        raise
    return JSONResponse(diff.as_json())


def _is_id(text: str) -> bool:
    """Printable ASCII without spaces, at most 64 characters: what an execution id can be."""
    return 0 < len(text) <= 64 and text.isascii() and text.isprintable() and " " not in text


ROUTES = [Route("/executions/{id}/diff", diff_route, methods=["GET"])]
