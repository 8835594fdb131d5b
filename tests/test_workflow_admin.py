"""Enable/disable, delete, run now, schedule preview and versions, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select

from engine.access.audit import ensure_user
from engine.access.roles import PermissionDenied
from engine.config import Settings
from engine.db import Database, session_scope
from engine.definitions.schema import validate_definition
from engine.definitions.starter_templates import template_document, workflow_templates
from engine.models import AuditLog, Role, Workflow, WorkflowExecution, WorkflowVersion
from engine.services.workflow_admin import (
    count_executions,
    delete_workflow,
    run_now,
    schedule_preview,
    set_enabled,
)
from engine.services.workflow_versions import (
    CURRENT,
    VersionNotFound,
    diff_versions,
    get_version,
    roll_back,
)
from engine.services.workflows import WorkflowNotFound, list_versions, save_document
from engine.triggers.new_executions import WorkflowDisabled
from engine.workers.runtime import Queue

ADMIN = "admin"  # the first user of a database is its SUPER_ADMIN


def definition(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "name": "alerts",
        "triggers": [
            {"type": "manual"},
            {"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
        ],
        "actions": [{"type": "slack", "channel": "#ops", "text": text}],
        **extra,
    }


def add_user(db: Database, username: str, role: Role) -> None:
    with session_scope(db) as session:
        user = ensure_user(session, username)
        user.role = role.value
        session.add(user)


def audit_actions(db: Database) -> list[tuple[str, str, dict[str, Any] | None]]:
    with db.read_session() as session:
        rows = session.exec(select(AuditLog).order_by(col(AuditLog.id))).all()
        return [(r.actor, r.action, r.details) for r in rows]


def workflow(db: Database, name: str = "alerts") -> Workflow | None:
    with db.read_session() as session:
        return session.exec(select(Workflow).where(Workflow.name == name)).first()


@pytest.fixture
def db(any_db: Database) -> Database:
    save_document(any_db, definition(), actor=ADMIN)
    return any_db


@pytest.fixture
def queue(db: Database, tmp_path: Path) -> Queue:
    settings = Settings.model_validate(
        {"database": {"url": db.url}, "queue": {"path": str(tmp_path / "queue.db")}}
    )
    return Queue(settings, db=db)


def test_disable_and_enable_switch_the_workflow_and_audit_each_change(db: Database) -> None:
    assert set_enabled(db, "alerts", False, actor=ADMIN) is True
    assert workflow(db).enabled is False  # type: ignore[union-attr]
    assert set_enabled(db, "alerts", False, actor=ADMIN) is False
    assert set_enabled(db, "alerts", True, actor=ADMIN) is True
    assert workflow(db).enabled is True  # type: ignore[union-attr]
    assert workflow(db).version == 1  # type: ignore[union-attr]
    assert [a[1] for a in audit_actions(db)] == [
        "workflow.create", "workflow.disable", "workflow.enable",
    ]  # fmt: skip


def test_changes_of_an_unknown_workflow_say_so(db: Database) -> None:
    with pytest.raises(WorkflowNotFound):
        set_enabled(db, "nope", True, actor=ADMIN)
    with pytest.raises(WorkflowNotFound):
        delete_workflow(db, "nope", actor=ADMIN)


def test_delete_removes_the_workflow_with_its_executions(db: Database, queue: Queue) -> None:
    save_document(db, {**definition(), "name": "other"}, actor=ADMIN)
    run_now(db, queue, "alerts", {}, actor=ADMIN)
    run_now(db, queue, "alerts", {}, actor=ADMIN)
    run_now(db, queue, "other", {}, actor=ADMIN)
    assert count_executions(db, "alerts") == 2
    assert delete_workflow(db, "alerts", actor=ADMIN) == 2
    assert workflow(db) is None
    with db.read_session() as session:
        assert session.exec(select(func.count()).select_from(WorkflowExecution)).one() == 1
        assert session.exec(select(func.count()).select_from(WorkflowVersion)).one() == 1
    assert audit_actions(db)[-1][1:] == (
        "workflow.delete",
        {"name": "alerts", "version": 1, "executions": 2},
    )


def test_run_now_creates_a_pending_execution_with_the_payload(db: Database, queue: Queue) -> None:
    [execution_id] = run_now(db, queue, "alerts", {"invoice": 7}, actor=ADMIN)
    with db.read_session() as session:
        execution = session.get(WorkflowExecution, execution_id)
    assert execution is not None
    assert (execution.status, execution.trigger_type) == ("PENDING", "manual")
    assert execution.trigger_data == {"invoice": 7}
    assert queue.depth()["queued"] == 1
    assert audit_actions(db)[-1][1] == "workflow.run"


def test_run_now_refuses_a_payload_that_is_not_an_object(db: Database, queue: Queue) -> None:
    with pytest.raises(ValueError, match="JSON object"):
        run_now(db, queue, "alerts", [1, 2], actor=ADMIN)
    assert count_executions(db, "alerts") == 0


def test_run_now_of_a_disabled_workflow_is_refused(db: Database, queue: Queue) -> None:
    set_enabled(db, "alerts", False, actor=ADMIN)
    with pytest.raises(WorkflowDisabled):
        run_now(db, queue, "alerts", {}, actor=ADMIN)


@pytest.mark.parametrize(
    ("role", "may_run", "may_edit"),
    [(Role.VIEWER, False, False), (Role.OPERATOR, True, False), (Role.ADMIN, True, True)],
)
def test_roles_gate_each_change(
    db: Database, queue: Queue, role: Role, may_run: bool, may_edit: bool
) -> None:
    add_user(db, "someone", role)
    save_document(db, definition("v2"), actor=ADMIN)
    edits = [
        lambda: set_enabled(db, "alerts", False, actor="someone"),
        lambda: roll_back(db, "alerts", 1, actor="someone"),
        lambda: delete_workflow(db, "alerts", actor="someone"),
    ]
    if may_run:
        assert len(run_now(db, queue, "alerts", {}, actor="someone")) == 1
    else:
        with pytest.raises(PermissionDenied, match="needs OPERATOR"):
            run_now(db, queue, "alerts", {}, actor="someone")
    for edit in edits:
        if may_edit:
            edit()
        else:
            with pytest.raises(PermissionDenied, match=f"needs ADMIN \\(you are {role.value}\\)"):
                edit()
    if not may_edit:
        current = workflow(db)
        assert current is not None
        assert (current.enabled, current.version) == (True, 2)
    refused = {"workflow.disable", "workflow.rollback", "workflow.delete"}
    assert bool(refused & {a[1] for a in audit_actions(db)}) is may_edit


def test_versions_are_numbered_and_read_back(db: Database) -> None:
    save_document(db, definition("second"), actor="bob")
    assert [v.version for v in list_versions(db, "alerts")] == [2, 1]
    second = get_version(db, "alerts", 2)
    assert second.created_by == "bob"
    assert second.definition["actions"][0]["text"] == "second"
    with pytest.raises(VersionNotFound, match="no version 9"):
        get_version(db, "alerts", 9)


def test_diff_shows_the_changed_lines_in_schema_order(db: Database) -> None:
    save_document(db, definition("second"), actor=ADMIN)
    diff = diff_versions(db, "alerts", 1, 2)
    assert (diff.old_label, diff.new_label) == ("v1", "v2")
    assert diff.lines[:2] == ["--- v1", "+++ v2"]
    changed = [line for line in diff.lines[2:] if line[:1] in "+-"]
    assert changed == ['-      "text": "hello"', '+      "text": "second"']
    assert diff_versions(db, "alerts", 2, CURRENT).lines == []


def test_diff_against_current_includes_the_enabled_switch(db: Database) -> None:
    set_enabled(db, "alerts", False, actor=ADMIN)
    changed = [line for line in diff_versions(db, "alerts", 1).lines[2:] if line[:1] in "+-"]
    assert changed == ['-  "enabled": true,', '+  "enabled": false,']


def test_roll_back_saves_the_old_definition_as_a_new_version(db: Database) -> None:
    save_document(db, definition("second"), actor=ADMIN)
    set_enabled(db, "alerts", False, actor=ADMIN)
    result = roll_back(db, "alerts", 1, actor=ADMIN)
    assert (result.version, result.outcome) == (3, "updated")
    assert [v.version for v in list_versions(db, "alerts")] == [3, 2, 1]
    assert get_version(db, "alerts", 2).definition["actions"][0]["text"] == "second"
    current = workflow(db)
    assert current is not None
    assert current.actions[0]["text"] == "hello"
    assert current.enabled is False  # the operator's switch survives a roll-back
    assert audit_actions(db)[-1] == (
        ADMIN,
        "workflow.rollback",
        {"name": "alerts", "restored": 1, "version": 3},
    )


def test_roll_back_to_the_current_definition_changes_nothing(db: Database) -> None:
    result = roll_back(db, "alerts", 1, actor=ADMIN)
    assert (result.version, result.outcome) == (1, "unchanged")
    assert [v.version for v in list_versions(db, "alerts")] == [1]
    assert "workflow.rollback" not in [a[1] for a in audit_actions(db)]


def test_schedule_preview_lists_the_next_fire_times_per_schedule_trigger(db: Database) -> None:
    [preview] = schedule_preview(db, "alerts", after=datetime(2024, 5, 3, 12, tzinfo=UTC))
    assert (preview.position, preview.cron, preview.timezone) == (1, "0 9 * * 1-5", "Europe/Berlin")
    assert [t.day for t in preview.fire_times] == [6, 7, 8, 9, 10]
    assert preview.fire_times[0] == datetime(2024, 5, 6, 7, tzinfo=UTC)


def test_every_action_type_has_a_valid_template() -> None:
    templates = workflow_templates()
    assert sorted(t.action_type for t in templates) == sorted(
        ["webhook", "email", "sms", "slack", "teams", "create_task", "create_project",
         "create_invoice"]
    )  # fmt: skip
    for template in templates:
        parsed = validate_definition(template.document)
        assert [a.type for a in parsed.actions] == [template.action_type]
        assert parsed.enabled is False


def test_template_documents_are_fresh_copies() -> None:
    document = template_document("email")
    document["actions"][0]["to"] = ["changed@example.com"]
    assert template_document("email")["actions"][0]["to"] == ["someone@example.com"]
