"""Backup, restore and vacuum on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.db import Database, connect_database
from engine.maintenance.backup import (
    BackupError,
    backup_name,
    create_backup,
    prune_backups,
    restore_backup,
)
from engine.maintenance.backup_file import TRAILER_SIZE, BackupFileError, verify
from engine.maintenance.vacuum import vacuum
from engine.models import utcnow
from engine.services.workflows import list_workflows, save_document
from tests.cli.runner import Outcome, runner, write_config
from tests.conftest import settings_for_url
from tests.console.conftest import insert_executions
from tests.pg import fresh_postgres_url

CANARY = "canary-3f9a1c-never-in-a-backup"


def _document(name: str) -> dict[str, object]:
    return {
        "name": name,
        "triggers": [{"type": "manual"}],
        "actions": [{"type": "webhook", "url": "https://example.com/${CANARY_TOKEN}"}],
    }


def _settings(db: Database, tmp_path: Path) -> Settings:
    settings = settings_for_url(db.url)
    settings.retention.backups_dir = str(tmp_path / "backups")
    return settings


def _names(db: Database) -> list[str]:
    return [workflow.name for workflow in list_workflows(db)]


def test_backup_then_restore_over_changes_brings_the_data_back(
    any_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANARY_TOKEN", CANARY)
    save_document(any_db, _document("kept"), actor="tester")
    settings = _settings(any_db, tmp_path)
    result = create_backup(any_db, settings)
    assert result.path.parent == tmp_path / "backups"
    assert result.path.name.startswith("wfconsole-") and result.path.suffix == ".backup"
    assert verify(result.path).kind == any_db.engine.dialect.name
    assert CANARY.encode() not in result.path.read_bytes()

    save_document(any_db, _document("added-later"), actor="tester")
    assert _names(any_db) == ["added-later", "kept"]
    with pytest.raises(BackupError, match="--force"):
        restore_backup(any_db, result.path)
    assert _names(any_db) == ["added-later", "kept"]

    restore_backup(any_db, result.path, force=True)
    assert _names(any_db) == ["kept"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign", "missing"])
def test_a_damaged_or_foreign_file_is_refused_before_anything_changes(
    sqlite_db: Database, tmp_path: Path, damage: str
) -> None:
    save_document(sqlite_db, _document("kept"), actor="tester")
    path = create_backup(sqlite_db, _settings(sqlite_db, tmp_path)).path
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
        expected = "truncated"
    elif damage == "flip":
        middle = len(data) - TRAILER_SIZE - 5
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :])
        expected = "checksum"
    elif damage == "foreign":
        path.write_bytes(b"SQLite format 3\x00" + data)
        expected = "not a wfconsole backup"
    else:
        path.unlink()
        expected = "no such backup file"
    with pytest.raises(BackupFileError, match=expected):
        restore_backup(sqlite_db, path, force=True)
    assert _names(sqlite_db) == ["kept"]


def test_a_sqlite_backup_restores_into_an_empty_database_without_force(
    sqlite_db: Database, tmp_path: Path
) -> None:
    save_document(sqlite_db, _document("kept"), actor="tester")
    path = create_backup(sqlite_db, _settings(sqlite_db, tmp_path)).path
    empty = connect_database(settings_for_url(f"sqlite:///{tmp_path / 'new.db'}"))
    try:
        restore_backup(empty, path)
        assert _names(empty) == ["kept"]
    finally:
        empty.dispose()


def test_a_postgres_backup_is_refused_by_sqlite(postgres_db: Database, tmp_path: Path) -> None:
    path = create_backup(postgres_db, _settings(postgres_db, tmp_path)).path
    sqlite = connect_database(settings_for_url(f"sqlite:///{tmp_path / 'x.db'}"))
    try:
        with pytest.raises(BackupError, match="postgresql backup cannot be restored into sqlite"):
            restore_backup(sqlite, path, force=True)
    finally:
        sqlite.dispose()


def test_a_postgres_restore_into_a_new_database(postgres_db: Database, tmp_path: Path) -> None:
    save_document(postgres_db, _document("kept"), actor="tester")
    path = create_backup(postgres_db, _settings(postgres_db, tmp_path)).path
    with fresh_postgres_url("wf_restore") as url:
        target = connect_database(settings_for_url(url))
        try:
            restore_backup(target, path)
            assert _names(target) == ["kept"]
        finally:
            target.dispose()


def test_old_backups_are_pruned_and_foreign_files_kept(tmp_path: Path) -> None:
    now = datetime(2025, 6, 30, tzinfo=UTC)
    tmp_path = tmp_path / "backups"
    tmp_path.mkdir()
    for days in (1, 29, 31, 90):
        (tmp_path / backup_name(now - timedelta(days=days))).write_bytes(b"x")
    (tmp_path / "wfconsole-notes.backup").write_bytes(b"mine")
    removed = prune_backups(tmp_path, 30, now=now)
    assert sorted(p.name for p in removed) == sorted(
        backup_name(now - timedelta(days=d)) for d in (31, 90)
    )
    assert len(list(tmp_path.iterdir())) == 3


def test_vacuum_reports_sizes_and_keeps_the_data(any_db: Database) -> None:
    save_document(any_db, _document("kept"), actor="tester")
    steps: list[str] = []
    result = vacuum(any_db, progress=steps.append)
    assert result.size_before > 0 and result.size_after > 0
    assert result.statements == len(steps)
    if any_db.engine.dialect.name == "sqlite":
        assert steps == ["VACUUM", "ANALYZE"]
    else:
        assert "VACUUM (ANALYZE) workflow_execution" in steps
        assert "REINDEX TABLE CONCURRENTLY workflow_execution" in steps
    assert _names(any_db) == ["kept"]
    with any_db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM workflow")).scalar_one() == 1


def test_cli_backup_restore_and_vacuum(
    sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_document(sqlite_db, _document("kept"), actor="tester")
    config = write_config(tmp_path / "c.toml", sqlite_db.url)
    config.write_text(
        config.read_text() + f'[retention]\nbackups_dir = "{tmp_path / "b"}"\n', encoding="utf-8"
    )
    run = runner(capsys, config)

    def cli(*args: str) -> Outcome:
        return run(*args, "--user", "tester")  # who saved the workflow: SUPER_ADMIN

    made = cli("maintenance", "backup")
    assert made.code == 0, made.err
    path = Path(made.out.split()[0])
    assert path.parent == tmp_path / "b" and path.is_file()

    refused = cli("maintenance", "restore", str(path))
    assert refused.code == 1
    assert refused.err_lines == [
        "wfconsole: error: the database already holds workflows or executions; "
        "restore replaces them all — add --force to go ahead"
    ]
    truncated = tmp_path / "cut.backup"
    truncated.write_bytes(path.read_bytes()[:100])
    broken = cli("maintenance", "restore", str(truncated), "--force")
    assert broken.code == 1 and len(broken.err_lines) == 1 and "truncated" in broken.err
    restored = cli("maintenance", "restore", str(path), "--force")
    assert restored.code == 0, restored.err
    assert _names(sqlite_db) == ["kept"]

    vacuumed = cli("maintenance", "vacuum")
    assert vacuumed.code == 0, vacuumed.err
    assert re.match(r"vacuumed in [\d.]+ s: [\d.,]+ KiB before, [\d.,]+ KiB after", vacuumed.out)
    assert vacuumed.err.split() == ["VACUUM", "ANALYZE"]


def test_cli_restore_is_refused_while_an_execution_is_running(
    sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_document(sqlite_db, _document("kept"), actor="tester")
    path = create_backup(sqlite_db, _settings(sqlite_db, tmp_path)).path
    save_document(sqlite_db, _document("made-after-the-backup"), actor="tester")
    insert_executions(sqlite_db, "kept", 1, first_number=1, newest=utcnow(), status="RUNNING")
    before = _table_digests(sqlite_db)
    cli = runner(capsys, write_config(tmp_path / "c.toml", sqlite_db.url))

    refused = cli("maintenance", "restore", str(path), "--force", "--user", "tester")

    assert (refused.code, refused.out) == (1, "")
    assert refused.err_lines == [
        "wfconsole: error: 1 execution(s) are RUNNING; restore when they have finished "
        "(stop the workers, or wait)"
    ]
    assert _table_digests(sqlite_db) == before


# A restore writes a new workflow-cache token on purpose (engine/workflow_cache/cache.py).
RENEWED_BY_RESTORE = {"definition_generation"}


def _table_digests(db: Database) -> dict[str, tuple[int, str]]:
    """Per table: the row count and a SHA-256 over every row in primary-key order."""
    import hashlib

    digests = {}
    with db.engine.connect() as conn:
        inspector = sa.inspect(conn)
        for table_name in sorted(set(inspector.get_table_names()) - RENEWED_BY_RESTORE):
            table = sa.Table(table_name, sa.MetaData(), autoload_with=conn)
            key = list(table.primary_key.columns) or list(table.columns)
            digest = hashlib.sha256()
            count = 0
            for row in conn.execute(sa.select(table).order_by(*key)):
                digest.update(repr(tuple(row)).encode())
                count += 1
            digests[table_name] = (count, digest.hexdigest())
    return digests


def test_restore_onto_an_empty_database_gives_identical_tables(
    any_db: Database, tmp_path: Path
) -> None:
    from engine.demo.seed import seed_demo

    seed_demo(any_db, executions=200, actor="tester")
    path = create_backup(any_db, _settings(any_db, tmp_path)).path
    before = _table_digests(any_db)
    assert before["workflow_execution"][0] == 200
    if any_db.engine.dialect.name == "sqlite":
        target = connect_database(settings_for_url(f"sqlite:///{tmp_path / 'empty.db'}"))
        try:
            restore_backup(target, path)
            assert _table_digests(target) == before
        finally:
            target.dispose()
        return
    with fresh_postgres_url("wf_restore") as url:
        target = connect_database(settings_for_url(url))
        try:
            restore_backup(target, path)
            assert _table_digests(target) == before
        finally:
            target.dispose()
