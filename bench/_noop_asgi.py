"""The baseline of bench/webhooks.py: uvicorn + Starlette answering 202 and doing nothing."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def accept(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"executions": []}, status_code=202)


app = Starlette(routes=[Route("/hooks/{path:path}", accept, methods=["POST"])])
