"""Saving a definition from an editor: the editor's role, its name rules, one transaction.

The editor edits one workflow by name, and names are how definitions are upserted, so a
changed name would silently create a second workflow (or overwrite a third one). Renames
are therefore refused, and a new workflow may not take a name that is already in use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import select

from engine.access.audit import ensure_user
from engine.access.roles import Permission, require
from engine.db import Database, session_scope
from engine.definitions.schema import MAX_DEFINITION_BYTES, DefinitionError, validate_definition
from engine.models import Workflow
from engine.services.workflows import SaveResult, WorkflowNotFound, save_definition_in


def rename_error(name: object, original_name: str | None) -> tuple[str, str] | None:
    """The ``("name", message)`` error when an existing workflow's name was changed."""
    if original_name is None or name == original_name:
        return None
    return (
        "name",
        f"renaming is not supported: keep {original_name!r} "
        "(to copy this workflow, create a new one with the new name)",
    )


@dataclass(frozen=True)
class DefinitionCheck:
    """What the editor's text amounts to: the parsed document and every error found."""

    document: Any
    """The parsed JSON (None when the text is not JSON)."""
    errors: tuple[tuple[str, str], ...]
    """(json path, message) pairs; empty when the definition is valid."""

    @property
    def valid(self) -> bool:
        """Whether the text is a definition that may be saved."""
        return not self.errors


def check_definition_text(text: str, *, original_name: str | None) -> DefinitionCheck:
    """Parse and validate an editor's JSON text; every error names its path."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DEFINITION_BYTES:
        return DefinitionCheck(None, (("", "definition is larger than 1 MiB"),))
    if not text.strip():
        return DefinitionCheck(None, (("", "empty: a definition is a JSON object"),))
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        return DefinitionCheck(None, (("", f"not valid JSON: {exc.msg} at {where}"),))
    except RecursionError:
        return DefinitionCheck(None, (("", "not accepted: nested too deeply"),))
    errors: list[tuple[str, str]] = []
    try:
        definition = validate_definition(document)
    except DefinitionError as exc:
        errors.extend(exc.errors)
        name = document.get("name") if isinstance(document, dict) else None
    else:
        name = definition.name
    problem = rename_error(name, original_name) if name is not None else None
    if problem is not None and problem not in errors:
        errors.insert(0, problem)
    return DefinitionCheck(document, tuple(errors))


def save_edited_workflow(
    db: Database, document: Any, *, actor: str, original_name: str | None
) -> SaveResult:
    """Validate and save an edited (or new, when ``original_name`` is None) definition.

    Needs ``Permission.EDIT`` for the actor's stored role; writes the new version and its
    audit row in one transaction. Raises ``DefinitionError`` (path-named),
    ``PermissionDenied`` or ``WorkflowNotFound`` (the edited workflow was deleted meanwhile).
    """
    definition = validate_definition(document)
    problem = rename_error(definition.name, original_name)
    if problem is not None:
        raise DefinitionError([problem])
    with session_scope(db) as session:
        require(ensure_user(session, actor).role, Permission.EDIT)
        exists = (
            session.exec(select(Workflow.id).where(Workflow.name == definition.name)).first()
            is not None
        )
        if original_name is None and exists:
            raise DefinitionError(
                [("name", f"a workflow named {definition.name!r} already exists")]
            )
        if original_name is not None and not exists:
            raise WorkflowNotFound(original_name)
        return save_definition_in(session, definition, actor=actor, vault=db.vault)
