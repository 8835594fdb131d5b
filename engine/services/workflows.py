"""Workflow definitions in storage: save (upsert by name), list, export, versions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session, col, select

from engine.access.audit import authorize, ensure_user, record_audit
from engine.access.roles import Permission
from engine.db import Database, session_scope
from engine.definitions.schema import (
    DefinitionError,
    EventTrigger,
    ScheduleTrigger,
    WebhookTrigger,
    WorkflowDefinition,
    validate_definition,
)
from engine.models import Workflow, WorkflowTrigger, WorkflowVersion, utcnow
from engine.security.crypto import Vault
from engine.security.secret_fields import seal
from engine.services.workflow_list import WorkflowSummary as WorkflowSummary  # re-exported
from engine.services.workflow_list import list_workflows as list_workflows  # re-exported
from engine.workflow_cache.cache import mark_changed
from engine.workflow_cache.lookups import WorkflowNotFound

DOCUMENT_FIELDS = (
    "name",
    "description",
    "enabled",
    "category",
    "tags",
    "priority",
    "max_retries",
    "retry_delay",
    "timeout",
    "triggers",
    "conditions",
    "actions",
)


@dataclass(frozen=True)
class SaveResult:
    """What saving one definition did."""

    name: str
    version: int
    outcome: Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class VersionSummary:
    """One saved version of a workflow."""

    version: int
    created_at: datetime
    created_by: str | None
    definition: dict[str, Any]


LIMIT_FIELDS = ("max_concurrent", "rate_limit")
"""Optional definition fields, in a document only when set (issue 16's limits)."""


def workflow_document(workflow: Workflow) -> dict[str, Any]:
    """The stored workflow as a definition document (what export writes)."""
    document = {name: getattr(workflow, name) for name in DOCUMENT_FIELDS}
    for name in LIMIT_FIELDS:
        if getattr(workflow, name) is not None:
            document[name] = getattr(workflow, name)
    return document


def _copy_limits(workflow: Workflow, document: dict[str, Any]) -> None:
    """The definition's limits onto the row (a claim reads them there); re-gate the flow."""
    workflow.max_concurrent = document.get("max_concurrent")
    workflow.rate_limit = document.get("rate_limit")
    workflow.flow_gated = any(
        value is not None
        for value in (workflow.paused_at, workflow.max_concurrent, workflow.rate_limit,
                      workflow.override_concurrent, workflow.override_rate)
    )  # fmt: skip


def _trigger_rows(workflow_id: str, definition: WorkflowDefinition) -> list[WorkflowTrigger]:
    rows = []
    for position, trigger in enumerate(definition.triggers):
        key: str | None = None
        if isinstance(trigger, EventTrigger):
            key = trigger.event
        elif isinstance(trigger, WebhookTrigger):
            key = trigger.path
        elif isinstance(trigger, ScheduleTrigger):
            key = trigger.cron
        rows.append(
            WorkflowTrigger(workflow_id=workflow_id, position=position, type=trigger.type, key=key)
        )
    return rows


def _check_hook_paths(session: Session, workflow_id: str, definition: WorkflowDefinition) -> None:
    """A webhook path belongs to one workflow; refuse a path another one holds."""
    paths = {
        trigger.path: position
        for position, trigger in enumerate(definition.triggers)
        if isinstance(trigger, WebhookTrigger)
    }
    if not paths:
        return
    taken = session.exec(
        select(col(WorkflowTrigger.key), Workflow.name)
        .join(Workflow, col(Workflow.id) == col(WorkflowTrigger.workflow_id))
        .where(WorkflowTrigger.type == "webhook")
        .where(col(WorkflowTrigger.key).in_(list(paths)))
        .where(WorkflowTrigger.workflow_id != workflow_id)
    ).first()
    if taken is not None:
        path, owner = taken
        raise DefinitionError(
            [(f"triggers[{paths[path or '']}].path", f"already used by workflow {owner!r}")]
        )


def save_definition_in(
    session: Session, definition: WorkflowDefinition, *, actor: str, vault: Vault
) -> SaveResult:
    """Upsert one definition by name in the caller's transaction; bumps version on change.

    Literal secrets are encrypted with ``vault`` before anything is written (see
    engine/security/secret_fields.py); an unchanged secret keeps its stored token.
    """
    user = ensure_user(session, actor)
    workflow = session.exec(
        select(Workflow).where(Workflow.name == definition.name).with_for_update()
    ).first()
    previous = workflow_document(workflow) if workflow is not None else None
    document = seal(definition.to_document(), vault, previous)
    if workflow is None:
        workflow = Workflow(created_by_id=user.id, version=1, **document)
        _copy_limits(workflow, document)
        _check_hook_paths(session, workflow.id, definition)
        session.add(workflow)
        outcome: Literal["created", "updated", "unchanged"] = "created"
    else:
        if workflow_document(workflow) == document:
            return SaveResult(workflow.name, workflow.version, "unchanged")
        _check_hook_paths(session, workflow.id, definition)
        for name, value in document.items():
            setattr(workflow, name, value)
        _copy_limits(workflow, document)
        workflow.version += 1
        workflow.updated_at = utcnow()
        for row in session.exec(
            select(WorkflowTrigger).where(WorkflowTrigger.workflow_id == workflow.id)
        ):
            session.delete(row)
        outcome = "updated"
    session.flush()
    mark_changed(session)
    session.add_all(_trigger_rows(workflow.id, definition))
    session.add(
        WorkflowVersion(
            workflow_id=workflow.id, version=workflow.version, definition=document, created_by=actor
        )
    )
    record_audit(
        session,
        actor=actor,
        action=f"workflow.{'create' if outcome == 'created' else 'update'}",
        target_type="workflow",
        target_id=workflow.id,
        details={"name": workflow.name, "version": workflow.version},
    )
    return SaveResult(workflow.name, workflow.version, outcome)


def save_definitions(
    db: Database, definitions: Iterable[WorkflowDefinition], *, actor: str, check_role: bool = False
) -> list[SaveResult]:
    """Save several definitions in one transaction: all of them or none.

    ``check_role`` requires ``Permission.EDIT`` for the actor's stored role first, in the
    same transaction.
    """
    results = []
    with session_scope(db) as session:
        if check_role:
            authorize(session, actor, Permission.EDIT)
        for index, definition in enumerate(definitions):
            try:
                results.append(save_definition_in(session, definition, actor=actor, vault=db.vault))
            except DefinitionError as exc:
                raise DefinitionError(exc.errors, index=index) from None
    return results


def save_document(db: Database, data: Any, *, actor: str) -> SaveResult:
    """Validate and save one definition given as parsed JSON data."""
    return save_definitions(db, [validate_definition(data)], actor=actor)[0]


def export_documents(db: Database, name: str | None = None) -> list[dict[str, Any]]:
    """Definition documents of one workflow (by name) or of all, by name."""
    with db.read_session() as session:
        query = select(Workflow).order_by(col(Workflow.name))
        if name is not None:
            query = query.where(Workflow.name == name)
        documents = [workflow_document(w) for w in session.exec(query)]
    if name is not None and not documents:
        raise WorkflowNotFound(name)
    return documents


def list_versions(db: Database, name: str) -> list[VersionSummary]:
    """Saved versions of a workflow, newest first."""
    with db.read_session() as session:
        workflow = session.exec(select(Workflow).where(Workflow.name == name)).first()
        if workflow is None:
            raise WorkflowNotFound(name)
        rows = session.exec(
            select(WorkflowVersion)
            .where(WorkflowVersion.workflow_id == workflow.id)
            .order_by(col(WorkflowVersion.version).desc())
        ).all()
        return [VersionSummary(r.version, r.created_at, r.created_by, r.definition) for r in rows]
