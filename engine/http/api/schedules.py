"""``/api/schedules``: the schedules board (VIEWER), as ``wfconsole schedules --json``."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.access.roles import Permission
from engine.http.api.common import ApiError, blocking, db_of, endpoint
from engine.models import utcnow
from engine.services.schedules import DEFAULT_WINDOW, schedule_board
from engine.services.tokens import Identity

MAX_WINDOW_HOURS = 24 * 31


@endpoint(Permission.READ, query=("window_hours",))
async def board_route(request: Request, identity: Identity) -> Response:
    """``GET /api/schedules[?window_hours=H]``: every schedule trigger with its gaps."""
    window = DEFAULT_WINDOW
    raw = request.query_params.get("window_hours")
    if raw is not None:
        try:
            hours = float(raw)
        except ValueError:
            hours = -1.0
        if not 0 < hours <= MAX_WINDOW_HOURS:
            raise ApiError(400, f"must be a number of hours, above 0 and at most "
                           f"{MAX_WINDOW_HOURS}", "window_hours")  # fmt: skip
        window = timedelta(hours=hours)
    now = utcnow()
    board = await blocking(schedule_board, db_of(request), now=now, window=window)
    return JSONResponse({"schedules": [status.as_json(now) for status in board]})


ROUTES = [Route("/schedules", board_route, methods=["GET"])]
