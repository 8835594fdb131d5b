"""Every way a workflow changes replaces the cache's generation token in its transaction."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.config import Settings
from engine.db import Database
from engine.definitions.schema import DefinitionError, validate_definition
from engine.maintenance.backup import create_backup, restore_backup
from engine.services.secrets import rotate_secrets
from engine.services.workflow_admin import delete_workflow, set_enabled
from engine.services.workflow_editing import save_edited_workflow
from engine.services.workflow_versions import roll_back
from engine.services.workflows import save_definitions, save_document
from engine.workflow_cache.generation import database_generation
from engine.workflow_cache.lookups import find_workflow

ADMIN = "admin"
NAME = "orders"


def orders(title: str) -> dict[str, Any]:
    return {
        "name": NAME,
        "enabled": True,
        "triggers": [{"type": "webhook", "path": "orders", "secret": "literal-secret"}],
        "actions": [{"type": "create_task", "title": title}],
    }


def _restore(db: Database, tmp_path: Path) -> None:
    settings = Settings.model_validate({"database": {"url": db.url}})
    backup = create_backup(db, settings, output=tmp_path / "before.backup")
    restore_backup(db, backup.path, force=True)


CHANGES: dict[str, Callable[[Database, Path], Any]] = {
    "save": lambda db, _: save_document(db, orders("v3"), actor=ADMIN),
    "edit": lambda db, _: save_edited_workflow(db, orders("v3"), actor=ADMIN, original_name=NAME),
    "disable": lambda db, _: set_enabled(db, NAME, False, actor=ADMIN),
    "delete": lambda db, _: delete_workflow(db, NAME, actor=ADMIN),
    "roll back": lambda db, _: roll_back(db, NAME, 1, actor=ADMIN),
    "rotate secrets": lambda db, _: rotate_secrets(db, actor=ADMIN),
    "restore": _restore,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_change_replaces_the_generation_token(
    sqlite_db: Database, tmp_path: Path, change: str
) -> None:
    save_document(sqlite_db, orders("v1"), actor=ADMIN)
    save_document(sqlite_db, orders("v2"), actor=ADMIN)
    before = database_generation(sqlite_db)
    find_workflow(sqlite_db, NAME)

    CHANGES[change](sqlite_db, tmp_path)
    find_workflow(sqlite_db, NAME)

    assert database_generation(sqlite_db) > before
    assert sqlite_db.workflow_cache.stats().misses == {"workflow": 2}


def test_a_change_that_rolls_back_keeps_the_token(sqlite_db: Database) -> None:
    save_document(sqlite_db, orders("v1"), actor=ADMIN)
    before = database_generation(sqlite_db)
    path_taken = {**orders("x"), "name": "other"}  # refused: the path belongs to "orders"

    with pytest.raises(DefinitionError):
        save_definitions(
            sqlite_db,
            [validate_definition(orders("v2")), validate_definition(path_taken)],
            actor=ADMIN,
        )

    assert database_generation(sqlite_db) == before
    workflow = find_workflow(sqlite_db, NAME)
    assert workflow is not None and workflow.version == 1
