"""Saving from the editor: role, name rules, version and audit row, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import col, select

from engine.access.audit import ensure_user
from engine.access.roles import PermissionDenied
from engine.db import Database, session_scope
from engine.definitions.schema import DefinitionError
from engine.models import AuditLog, Role, Workflow, WorkflowVersion
from engine.services.workflow_editing import check_definition_text, save_edited_workflow
from engine.services.workflows import WorkflowNotFound, save_document

ADMIN = "admin"  # the first user of a database is its SUPER_ADMIN


def definition(name: str = "alerts", text: str = "hello") -> dict[str, Any]:
    return {
        "name": name,
        "triggers": [{"type": "manual"}],
        "actions": [{"type": "slack", "channel": "#ops", "text": text}],
    }


def add_user(db: Database, username: str, role: Role) -> None:
    with session_scope(db) as session:
        user = ensure_user(session, username)
        user.role = role.value
        session.add(user)


def state(db: Database, name: str = "alerts") -> tuple[int | None, int, list[tuple[str, str]]]:
    """(current version, number of stored versions, audit rows as (actor, action))."""
    with db.read_session() as session:
        workflow = session.exec(select(Workflow).where(Workflow.name == name)).first()
        versions = session.exec(select(WorkflowVersion)).all()
        audit = session.exec(select(AuditLog).order_by(col(AuditLog.id))).all()
        return (
            workflow.version if workflow else None,
            len(versions),
            [(row.actor, row.action) for row in audit],
        )


@pytest.fixture
def db(any_db: Database) -> Database:
    save_document(any_db, definition(), actor=ADMIN)
    return any_db


def test_an_edit_saves_a_new_version_with_its_audit_row(db: Database) -> None:
    add_user(db, "ada", Role.ADMIN)
    result = save_edited_workflow(
        db, definition(text="changed"), actor="ada", original_name="alerts"
    )
    assert (result.name, result.version, result.outcome) == ("alerts", 2, "updated")
    version, stored, audit = state(db)
    assert (version, stored) == (2, 2)
    assert audit[-1] == ("ada", "workflow.update")


def test_a_viewer_cannot_save_and_nothing_changes(db: Database) -> None:
    add_user(db, "vic", Role.VIEWER)
    before = state(db)
    with pytest.raises(PermissionDenied, match="needs ADMIN"):
        save_edited_workflow(db, definition(text="x"), actor="vic", original_name="alerts")
    assert state(db) == before


def test_an_operator_cannot_save_either(db: Database) -> None:
    add_user(db, "olga", Role.OPERATOR)
    with pytest.raises(PermissionDenied):
        save_edited_workflow(db, definition(text="x"), actor="olga", original_name="alerts")


def test_a_rename_is_refused_at_the_name(db: Database) -> None:
    before = state(db)
    with pytest.raises(DefinitionError) as caught:
        save_edited_workflow(db, definition("renamed"), actor=ADMIN, original_name="alerts")
    assert caught.value.errors[0][0] == "name"
    assert "renaming is not supported" in caught.value.errors[0][1]
    assert state(db) == before
    assert state(db, "renamed")[0] is None


def test_a_new_workflow_may_not_take_a_used_name(db: Database) -> None:
    with pytest.raises(DefinitionError, match="name: a workflow named 'alerts' already exists"):
        save_edited_workflow(db, definition(text="other"), actor=ADMIN, original_name=None)
    assert state(db)[0] == 1


def test_a_new_workflow_is_created_at_version_one(db: Database) -> None:
    result = save_edited_workflow(db, definition("fresh"), actor=ADMIN, original_name=None)
    assert (result.version, result.outcome) == (1, "created")
    assert state(db)[2][-1] == (ADMIN, "workflow.create")


def test_an_edited_workflow_deleted_meanwhile_is_not_recreated(db: Database) -> None:
    with pytest.raises(WorkflowNotFound):
        save_edited_workflow(db, definition("ghost"), actor=ADMIN, original_name="ghost")
    assert state(db, "ghost")[0] is None


def test_an_invalid_definition_is_refused_by_path(db: Database) -> None:
    document = definition()
    document["actions"][0] = {"type": "webhook", "url": "ftp://x"}
    with pytest.raises(DefinitionError, match=r"actions\[0\]\.url: invalid URL"):
        save_edited_workflow(db, document, actor=ADMIN, original_name="alerts")


def test_check_reports_json_errors_with_line_and_column() -> None:
    check = check_definition_text('{\n  "name": "a",\n  oops\n}', original_name=None)
    assert not check.valid
    assert check.document is None
    assert check.errors[0][1].startswith("not valid JSON:")
    assert "line 3, column 3" in check.errors[0][1]


def test_check_lists_every_schema_error_by_path() -> None:
    document = definition()
    document["actions"] = [{"type": "webhook", "url": "ftp://x"}, {"type": "sms", "to": "1"}]
    check = check_definition_text(json.dumps(document), original_name=None)
    paths = [path for path, _ in check.errors]
    assert "actions[0].url" in paths
    assert "actions[1].to" in paths


def test_check_flags_a_rename_even_when_the_rest_is_valid() -> None:
    check = check_definition_text(json.dumps(definition("other")), original_name="alerts")
    assert [path for path, _ in check.errors] == ["name"]
    assert check.document["name"] == "other"
