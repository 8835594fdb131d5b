"""A workflow's saved versions: read one, diff two, roll back to one.

History is never rewritten: rolling back saves the old definition as a new version.
"""

from __future__ import annotations

import difflib
import json
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from engine.access.audit import record_audit
from engine.access.roles import Permission
from engine.db import Database, session_scope
from engine.definitions.schema import DefinitionError, validate_definition
from engine.models import Workflow, WorkflowVersion
from engine.security.secret_fields import masked
from engine.services.workflow_admin import authorize
from engine.services.workflows import (
    SaveResult,
    VersionSummary,
    WorkflowNotFound,
    save_definition_in,
    workflow_document,
)

CURRENT = None
"""Stands for the workflow as stored now (its enabled switch included) in a diff."""


class VersionNotFound(LookupError):
    """The workflow has no saved version with that number."""

    def __init__(self, name: str, version: int) -> None:
        super().__init__(f"workflow {name!r} has no version {version}")


@dataclass(frozen=True)
class VersionDiff:
    """A unified diff between two definitions of one workflow."""

    old_label: str
    new_label: str
    lines: list[str]
    """Unified diff lines without trailing newlines; empty when the two are identical."""


def _workflow(session: Session, name: str) -> Workflow:
    workflow = session.exec(select(Workflow).where(Workflow.name == name)).first()
    if workflow is None:
        raise WorkflowNotFound(name)
    return workflow


def _version_row(session: Session, workflow: Workflow, version: int) -> WorkflowVersion:
    row = session.exec(
        select(WorkflowVersion)
        .where(WorkflowVersion.workflow_id == workflow.id)
        .where(WorkflowVersion.version == version)
    ).first()
    if row is None:
        raise VersionNotFound(workflow.name, version)
    return row


def get_version(db: Database, name: str, version: int) -> VersionSummary:
    """One saved version of a workflow."""
    with db.read_session() as session:
        row = _version_row(session, _workflow(session, name), version)
        return VersionSummary(row.version, row.created_at, row.created_by, row.definition)


def canonical_text(document: dict[str, Any]) -> str:
    """A definition as indented JSON in the schema's field order.

    PostgreSQL's JSONB hands keys back in its own order; re-validating puts them back in
    the order ``to_document`` writes, so a diff shows changes, not reordering.
    """
    # One saved under an older, looser schema is shown as stored.
    with suppress(DefinitionError):
        document = validate_definition(document).to_document()
    return json.dumps(document, indent=2, ensure_ascii=False)


def diff_versions(
    db: Database, name: str, old: int | None, new: int | None = CURRENT
) -> VersionDiff:
    """Unified diff from version ``old`` to version ``new`` (``CURRENT``: as stored now)."""
    with db.read_session() as session:
        workflow = _workflow(session, name)
        documents = []
        for version in (old, new):
            if version is CURRENT:
                documents.append(workflow_document(workflow))
            else:
                documents.append(_version_row(session, workflow, version).definition)
    labels = [f"v{v}" if v is not None else "current" for v in (old, new)]
    # Tokens differ between versions even for one plaintext (rotation re-encrypts each row):
    # the diff compares tags of the plaintexts, and never shows a token or a plaintext.
    shown = [masked(document, db.vault) for document in documents]
    lines = difflib.unified_diff(
        canonical_text(shown[0]).splitlines(),
        canonical_text(shown[1]).splitlines(),
        fromfile=labels[0],
        tofile=labels[1],
        lineterm="",
    )
    return VersionDiff(labels[0], labels[1], list(lines))


def roll_back(db: Database, name: str, version: int, *, actor: str) -> SaveResult:
    """Save version ``version``'s definition as a new version (``unchanged`` if it is current).

    The workflow keeps its name and its enabled switch: rolling back restores what it
    does, it does not wake up a workflow an operator switched off.
    """
    with session_scope(db) as session:
        authorize(session, actor, Permission.EDIT)
        workflow = _workflow(session, name)
        document = dict(_version_row(session, workflow, version).definition)
        document["name"], document["enabled"] = workflow.name, workflow.enabled
        definition = validate_definition(document)
        result = save_definition_in(session, definition, actor=actor, vault=db.vault)
        if result.outcome != "unchanged":
            record_audit(
                session,
                actor=actor,
                action="workflow.rollback",
                target_type="workflow",
                target_id=workflow.id,
                details={"name": workflow.name, "restored": version, "version": result.version},
            )
        return result
