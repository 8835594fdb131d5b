"""``/api/workflows``: list, get, create, update, delete, enable/disable and run.

Reads need VIEWER, runs OPERATOR, every edit ADMIN. The services check the role again
in the transaction that writes the change and its audit row (actor: the token's user).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.access.roles import Permission
from engine.definitions.json_values import MAX_VALUE_DEPTH
from engine.definitions.schema import DefinitionError
from engine.http.api.common import (
    ApiError,
    blocking,
    db_of,
    endpoint,
    iso,
    json_body,
    json_object,
    queue_of,
    read_one,
    refuse_unstorable,
)
from engine.services.tokens import Identity
from engine.services.workflow_admin import delete_workflow, run_now, set_enabled
from engine.services.workflow_editing import save_edited_workflow
from engine.services.workflows import (
    WorkflowNotFound,
    WorkflowSummary,
    export_documents,
    list_workflows,
)


def summary_json(summary: WorkflowSummary) -> dict[str, Any]:
    """One workflow of the list."""
    return {
        "id": summary.id,
        "name": summary.name,
        "enabled": summary.enabled,
        "version": summary.version,
        "category": summary.category,
        "trigger_types": list(summary.trigger_types),
        "action_count": summary.action_count,
        "execution_count": summary.execution_count,
        "success_count": summary.success_count,
        "failure_count": summary.failure_count,
        "success_rate": summary.success_rate,
        "last_execution_at": iso(summary.last_execution_at),
        "avg_execution_ms": summary.avg_execution_ms,
    }


@endpoint(Permission.READ)
async def list_route(request: Request, identity: Identity) -> Response:
    """``GET /api/workflows``."""
    summaries = await blocking(list_workflows, db_of(request))
    return JSONResponse({"workflows": [summary_json(s) for s in summaries]})


@endpoint(Permission.READ)
async def get_route(request: Request, identity: Identity) -> Response:
    """``GET /api/workflows/{name}``: the summary plus the definition document."""
    name = request.path_params["name"]
    found, document = await read_one(_workflow_and_document, db_of(request), name)
    return JSONResponse({**summary_json(found), "definition": document})


def _workflow_and_document(db: Any, name: str) -> tuple[WorkflowSummary, dict[str, Any]]:
    (document,) = export_documents(db, name)
    found = next((s for s in list_workflows(db) if s.name == name), None)
    if found is None:  # deleted between the two reads
        raise WorkflowNotFound(name)
    return found, document


def _saved(result: Any, status: int) -> JSONResponse:
    body = {"name": result.name, "version": result.version, "outcome": result.outcome}
    return JSONResponse(body, status, headers={"Location": f"/api/workflows/{result.name}"})


@endpoint(Permission.EDIT)
async def create_route(request: Request, identity: Identity) -> Response:
    """``POST /api/workflows``: a new workflow; 409 when the name is taken."""
    document = json_object(await json_body(request))
    try:
        result = await blocking(
            save_edited_workflow, db_of(request), document,
            actor=identity.username, original_name=None,
        )  # fmt: skip
    except DefinitionError as exc:
        path, message = exc.errors[0]
        if path == "name" and "already exists" in message:
            raise ApiError(409, message, "name") from None
        raise
    return _saved(result, 201)


@endpoint(Permission.EDIT)
async def update_route(request: Request, identity: Identity) -> Response:
    """``PUT /api/workflows/{name}``: a new version (renames are refused, field ``name``)."""
    document = json_object(await json_body(request))
    result = await blocking(
        save_edited_workflow, db_of(request), document,
        actor=identity.username, original_name=request.path_params["name"],
    )  # fmt: skip
    return _saved(result, 200)


@endpoint(Permission.EDIT)
async def delete_route(request: Request, identity: Identity) -> Response:
    """``DELETE /api/workflows/{name}``: with its versions and executions."""
    name = request.path_params["name"]
    removed = await blocking(delete_workflow, db_of(request), name, actor=identity.username)
    return JSONResponse({"name": name, "deleted": True, "executions_deleted": removed})


async def _switch(request: Request, identity: Identity, enabled: bool) -> Response:
    name = request.path_params["name"]
    changed = await blocking(set_enabled, db_of(request), name, enabled, actor=identity.username)
    return JSONResponse({"name": name, "enabled": enabled, "changed": changed})


@endpoint(Permission.EDIT)
async def enable_route(request: Request, identity: Identity) -> Response:
    """``POST /api/workflows/{name}/enable``."""
    return await _switch(request, identity, True)


@endpoint(Permission.EDIT)
async def disable_route(request: Request, identity: Identity) -> Response:
    """``POST /api/workflows/{name}/disable``."""
    return await _switch(request, identity, False)


@endpoint(Permission.OPERATE)
async def run_route(request: Request, identity: Identity) -> Response:
    """``POST /api/workflows/{name}/run``, body ``{"data": {...}}`` (optional)."""
    body = await json_body(request, required=False)
    data = json_object(body).get("data", {}) if body is not None else {}
    data = json_object(data, "data")
    # Trigger data nests no deeper than a webhook body may (the receiver's 400).
    refuse_unstorable(data, "data", limit=MAX_VALUE_DEPTH)
    ids = await blocking(
        run_now, db_of(request), queue_of(request), request.path_params["name"], data,
        actor=identity.username,
    )  # fmt: skip
    return JSONResponse({"executions": ids}, 202)


ROUTES = [
    Route("/workflows", list_route, methods=["GET"]),
    Route("/workflows", create_route, methods=["POST"]),
    Route("/workflows/{name}", get_route, methods=["GET"]),
    Route("/workflows/{name}", update_route, methods=["PUT"]),
    Route("/workflows/{name}", delete_route, methods=["DELETE"]),
    Route("/workflows/{name}/enable", enable_route, methods=["POST"]),
    Route("/workflows/{name}/disable", disable_route, methods=["POST"]),
    Route("/workflows/{name}/run", run_route, methods=["POST"]),
]
