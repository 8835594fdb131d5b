"""Storage: migrations build the models' schema on SQLite and PostgreSQL alike, deletes
cascade, names are unique, and saving a definition keeps its versions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, func, select

from engine.config import Settings
from engine.db import (
    Database,
    DatabaseError,
    connect_database,
    create_db_engine,
    current_revision,
    head_revision,
    open_database,
    upgrade,
)
from engine.definitions.schema import DefinitionError
from engine.models import (
    POSTGRESQL_ONLY_INDEXES,
    User,
    Workflow,
    WorkflowExecution,
    WorkflowExecutionLog,
    WorkflowExecutionStep,
    WorkflowTrigger,
    WorkflowVersion,
)
from engine.services.workflows import export_documents, list_versions, save_document
from tests.test_definition import example_document


def settings_for_url(url: str) -> Settings:
    return Settings.model_validate({"database": {"url": url}})


def count(db: Database, model: type[SQLModel]) -> int:
    with db.session() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def add_workflow(db: Database, name: str = "wf", **fields: Any) -> Workflow:
    workflow = Workflow(
        name=name, triggers=[{"type": "manual"}], actions=[{"type": "create_task"}], **fields
    )
    with db.session() as session:
        session.add(workflow)
        session.commit()
    return workflow


def add_execution_with_history(db: Database, workflow: Workflow) -> WorkflowExecution:
    execution = WorkflowExecution(workflow_id=workflow.id, trigger_type="manual")
    with db.session() as session:
        session.add(execution)
        session.flush()
        session.add(
            WorkflowExecutionStep(
                execution_id=execution.id, step_index=0, action_type="create_task", status="SUCCESS"
            )
        )
        session.add(WorkflowExecutionLog(execution_id=execution.id, message="started"))
        session.add(WorkflowExecutionLog(execution_id=execution.id, message="done"))
        session.commit()
    return execution


# --- schema -----------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def upgraded_db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A new, empty database migrated by engine.db.upgrade (what `wfconsole db upgrade` runs)."""
    url = request.getfixturevalue(f"{request.param}_url")
    db = connect_database(settings_for_url(url))
    upgrade(db)
    yield db
    db.dispose()


def test_upgrade_brings_an_empty_database_to_head(upgraded_db: Database) -> None:
    assert current_revision(upgraded_db) == head_revision()


def test_migrated_schema_matches_the_models(upgraded_db: Database) -> None:
    def for_this_dialect(item: object, name: str | None, kind: str, *_: object) -> bool:
        # A PostgreSQL-only index (ddl_if) is not part of a SQLite schema.
        return not (kind == "index" and name in POSTGRESQL_ONLY_INDEXES and upgraded_db.is_sqlite)

    with upgraded_db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": for_this_dialect}
        )
        drift = compare_metadata(context, SQLModel.metadata)

    assert drift == []


@pytest.mark.parametrize("upgraded_db", ["postgres"], indirect=True)
def test_json_columns_are_jsonb_on_postgresql(upgraded_db: Database) -> None:
    json_columns = {
        (table.name, column.name)
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, sa.JSON)
    }
    with upgraded_db.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'public' AND data_type IN ('json', 'jsonb')"
            )
        ).all()

    assert {(table, column): kind for table, column, kind in rows} == {
        key: "jsonb" for key in json_columns
    }
    assert ("workflow", "triggers") in json_columns


def test_sqlite_database_is_created_and_migrated_on_first_use(sqlite_url: str) -> None:
    db = open_database(settings_for_url(sqlite_url))
    try:
        assert current_revision(db) == head_revision()
    finally:
        db.dispose()


def test_unmigrated_postgresql_is_refused_with_the_upgrade_hint(postgres_url: str) -> None:
    with pytest.raises(DatabaseError, match="run 'wfconsole db upgrade'"):
        open_database(settings_for_url(postgres_url))


def test_unmigrated_postgresql_is_left_untouched(postgres_url: str) -> None:
    with pytest.raises(DatabaseError):
        open_database(settings_for_url(postgres_url))

    engine = create_db_engine(postgres_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_unreachable_database_is_a_database_error() -> None:
    with pytest.raises(DatabaseError, match="cannot connect"):
        open_database(settings_for_url("postgresql://postgres@127.0.0.1:1/nowhere"))


# --- rows -------------------------------------------------------------------------------


def test_deleting_a_workflow_deletes_its_executions_steps_and_logs(any_db: Database) -> None:
    workflow = add_workflow(any_db)
    add_execution_with_history(any_db, workflow)
    add_execution_with_history(any_db, workflow)
    with any_db.session() as session:
        session.add(WorkflowVersion(workflow_id=workflow.id, version=1, definition={}))
        session.add(WorkflowTrigger(workflow_id=workflow.id, position=0, type="manual"))
        session.commit()

    with any_db.session() as session:
        session.execute(sa.delete(Workflow).where(col(Workflow.id) == workflow.id))
        session.commit()

    remaining = {
        model.__name__: count(any_db, model)
        for model in (
            WorkflowExecution,
            WorkflowExecutionStep,
            WorkflowExecutionLog,
            WorkflowVersion,
            WorkflowTrigger,
        )
    }
    assert remaining == dict.fromkeys(remaining, 0)


def test_deleting_one_workflow_keeps_the_history_of_others(any_db: Database) -> None:
    doomed, kept = add_workflow(any_db, "doomed"), add_workflow(any_db, "kept")
    add_execution_with_history(any_db, doomed)
    add_execution_with_history(any_db, kept)

    with any_db.session() as session:
        session.execute(sa.delete(Workflow).where(col(Workflow.id) == doomed.id))
        session.commit()

    assert (count(any_db, WorkflowExecution), count(any_db, WorkflowExecutionLog)) == (1, 2)


def test_deleting_a_user_keeps_the_workflows_they_created(any_db: Database) -> None:
    user = User(username="ada")
    with any_db.session() as session:
        session.add(user)
        session.commit()
    workflow = add_workflow(any_db, created_by_id=user.id)

    with any_db.session() as session:
        session.execute(sa.delete(User).where(col(User.id) == user.id))
        session.commit()

    with any_db.session() as session:
        assert session.get(Workflow, workflow.id).created_by_id is None  # type: ignore[union-attr]


def test_workflow_names_are_unique(any_db: Database) -> None:
    add_workflow(any_db, "same")

    with pytest.raises(IntegrityError):
        add_workflow(any_db, "same")


def test_timestamps_read_back_as_aware_utc(any_db: Database) -> None:
    workflow = add_workflow(any_db)

    with any_db.session() as session:
        stored = session.get(Workflow, workflow.id)

    assert stored is not None
    assert stored.created_at.utcoffset() == UTC.utcoffset(None)
    assert stored.created_at == workflow.created_at


def test_json_columns_keep_nested_values(any_db: Database) -> None:
    payload = {"amount": 1500.5, "tags": ["vip"], "nested": {"ok": True, "none": None}}
    workflow = add_workflow(any_db)
    with any_db.session() as session:
        session.add(
            WorkflowExecution(workflow_id=workflow.id, trigger_type="manual", trigger_data=payload)
        )
        session.commit()

    with any_db.session() as session:
        stored = session.exec(select(WorkflowExecution)).one()

    assert stored.trigger_data == payload


# --- saving definitions -----------------------------------------------------------------


def test_saving_a_new_definition_creates_version_one(any_db: Database) -> None:
    result = save_document(any_db, example_document(), actor="ada")

    assert (result.outcome, result.version) == ("created", 1)
    assert export_documents(any_db, "large-invoice-alert") == [example_document()]


def test_saving_the_same_definition_again_changes_nothing(any_db: Database) -> None:
    save_document(any_db, example_document(), actor="ada")

    result = save_document(any_db, example_document(), actor="ada")

    assert (result.outcome, result.version) == ("unchanged", 1)
    assert count(any_db, WorkflowVersion) == 1


def test_saving_a_changed_definition_bumps_the_version(any_db: Database) -> None:
    save_document(any_db, example_document(), actor="ada")
    changed = example_document() | {"description": "Tell finance about every invoice"}

    result = save_document(any_db, changed, actor="bob")

    assert (result.outcome, result.version) == ("updated", 2)
    assert export_documents(any_db, "large-invoice-alert") == [changed]


def test_every_saved_version_is_kept(any_db: Database) -> None:
    first = example_document()
    second = first | {"priority": 7}
    third = second | {"enabled": False}
    for document in (first, second, third):
        save_document(any_db, document, actor="ada")

    versions = list_versions(any_db, "large-invoice-alert")

    assert [(v.version, v.definition) for v in versions] == [(3, third), (2, second), (1, first)]


def test_saving_replaces_the_trigger_index_rows(any_db: Database) -> None:
    save_document(any_db, example_document(), actor="ada")
    fewer = example_document()
    fewer["triggers"] = [{"type": "event", "event": "invoice.paid"}]

    save_document(any_db, fewer, actor="ada")

    with any_db.session() as session:
        rows = session.exec(select(WorkflowTrigger.type, WorkflowTrigger.key)).all()
    assert [tuple(row) for row in rows] == [("event", "invoice.paid")]


def test_webhook_path_used_by_another_workflow_is_refused(any_db: Database) -> None:
    save_document(any_db, example_document(), actor="ada")
    rival = example_document() | {"name": "rival"}

    with pytest.raises(DefinitionError) as refused:
        save_document(any_db, rival, actor="ada")

    assert refused.value.errors[0] == (
        "triggers[3].path",
        "already used by workflow 'large-invoice-alert'",
    )
    assert [d["name"] for d in export_documents(any_db)] == ["large-invoice-alert"]


def test_workflow_keeps_its_own_webhook_path_when_updated(any_db: Database) -> None:
    save_document(any_db, example_document(), actor="ada")

    result = save_document(any_db, example_document() | {"priority": 9}, actor="ada")

    assert result.outcome == "updated"
