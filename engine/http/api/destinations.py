"""``/api/destinations``: the outbound board (VIEWER); hold and release (OPERATOR).

As ``wfconsole destinations --json``, ``destinations hold HOST[:PORT] [--for D]`` and
``destinations release HOST[:PORT]``. The destination is the path's last-but-one segment
(``127.0.0.1:8125``, ``[::1]:8125``: percent-encode nothing but what a path needs).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.access.roles import Permission
from engine.definitions.durations import parse_duration
from engine.http.api.common import ApiError, blocking, db_of, endpoint, iso, queue_of
from engine.services.destinations import (
    WINDOWS,
    InvalidDestination,
    destination_board,
    hold,
    parse_destination,
    release,
)
from engine.services.tokens import Identity


def _destination(request: Request) -> str:
    try:
        return parse_destination(request.path_params["destination"])
    except InvalidDestination as exc:
        raise ApiError(400, str(exc), "destination") from None


@endpoint(Permission.READ, query=("window",))
async def board_route(request: Request, identity: Identity) -> Response:
    """``GET /api/destinations[?window=5m|1h|24h]``: every destination with its figures."""
    window = request.query_params.get("window", "5m")
    if window not in WINDOWS:
        raise ApiError(400, "expected 5m, 1h or 24h", "window")
    board = await blocking(destination_board, db_of(request), window)
    return JSONResponse({"window": window, "destinations": [row.as_json() for row in board]})


@endpoint(Permission.OPERATE, query=("for",))
async def hold_route(request: Request, identity: Identity) -> Response:
    """``POST /api/destinations/{destination}/hold[?for=DURATION]``."""
    destination = _destination(request)
    for_ = None
    if "for" in request.query_params:
        try:
            for_ = parse_duration(request.query_params["for"])
        except ValueError as exc:
            raise ApiError(400, str(exc), "for") from None
    result = await blocking(hold, db_of(request), destination, actor=identity.username,
                            for_=for_)  # fmt: skip
    return JSONResponse({"destination": result.destination, "held_until": iso(result.held_until),
                         "waiting": result.waiting})  # fmt: skip


@endpoint(Permission.OPERATE)
async def release_route(request: Request, identity: Identity) -> Response:
    """``POST /api/destinations/{destination}/release``: the waiting runs are sent."""
    destination = _destination(request)
    result = await blocking(release, db_of(request), queue_of(request), destination,
                            actor=identity.username)  # fmt: skip
    return JSONResponse({"destination": result.destination, "was_held": result.was_held,
                         "released": result.released})  # fmt: skip


ROUTES = [
    Route("/destinations", board_route, methods=["GET"]),
    Route("/destinations/{destination}/hold", hold_route, methods=["POST"]),
    Route("/destinations/{destination}/release", release_route, methods=["POST"]),
]
