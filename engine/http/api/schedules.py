"""``/api/schedules``: the schedules board (VIEWER), as ``wfconsole schedules --json``."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.access.roles import Permission
from engine.http.api.common import blocking, db_of, endpoint
from engine.http.api.executions import _int
from engine.models import utcnow
from engine.services.schedules import schedule_board
from engine.services.tokens import Identity

DEFAULT_WINDOW_HOURS = 24
MAX_WINDOW_HOURS = 24 * 31


@endpoint(Permission.READ, query=("window_hours",))
async def board_route(request: Request, identity: Identity) -> Response:
    """``GET /api/schedules[?window_hours=H]`` (whole hours): every schedule trigger with its
    gaps and late starts."""
    hours = _int(request.query_params, "window_hours", DEFAULT_WINDOW_HOURS, 1, MAX_WINDOW_HOURS)
    window = timedelta(hours=hours)
    now = utcnow()
    board = await blocking(schedule_board, db_of(request), now=now, window=window)
    return JSONResponse({"schedules": [status.as_json(now) for status in board]})


ROUTES = [Route("/schedules", board_route, methods=["GET"])]
