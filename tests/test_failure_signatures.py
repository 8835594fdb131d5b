"""Stored failure signatures: migration 0008 signs the FAILED rows already there, in
batches, and the failure clusters group by the stored column, giving the clusters the
read-time normalisation gave (rows nobody signed still join the right cluster)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa

from engine.db import MIGRATIONS_DIR, Database, connect_database, upgrade
from engine.demo.seed import seed_demo
from engine.execution.claims import EXECUTIONS, E
from engine.execution.error_signature import normalise_error
from engine.services.failures import cluster_execution_ids, list_failure_clusters
from tests.conftest import settings_for_url
from tests.test_failure_clusters import NOW, SINCE, eid, http_503, seed

BATCH = 5000


def migration_0008() -> ModuleType:
    path = Path(MIGRATIONS_DIR) / "versions" / "0008_execution_error_signature.py"
    spec = importlib.util.spec_from_file_location("migration_0008", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def signatures(db: Database) -> dict[str, str | None]:
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(E.id, E.error_signature))
        return {row.id: row.error_signature for row in rows}


def execution_error(db: Database, execution_id: str) -> str:
    with db.engine.connect() as conn:
        error: str = conn.execute(sa.select(E.error).where(E.id == execution_id)).scalar_one()
    return error


def sign_stored_rows(db: Database) -> int:
    with db.engine.connect() as conn:
        signed: int = migration_0008().backfill(conn, commit_each_batch=True)
    return signed


# --- the migration ----------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def db_at_0007(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database migrated to the revision before the signatures (not to head)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    db = connect_database(settings_for_url(url))
    upgrade(db, "0007")
    yield db
    db.dispose()


def add_old_rows(db: Database, failed: int) -> None:
    """One workflow; ``failed`` FAILED runs with distinct errors, and one SUCCESS run."""
    created = NOW - timedelta(minutes=5)
    with db.engine.begin() as conn:
        # Plain SQL: the model's workflow table has columns later revisions added.
        conn.execute(
            sa.text(
                "INSERT INTO workflow (id, name, enabled, version, triggers, actions, priority,"
                " max_retries, retry_delay, timeout, tags, execution_count, success_count,"
                " failure_count, created_at, updated_at)"
                " VALUES ('w1', 'old', false, 1, '[]', '[{\"type\": \"webhook\"}]', 5, 3, 60,"
                " 300, '[]', 0, 0, 0, :at, :at)"
            ),
            {"at": created},
        )
        rows: list[dict[str, Any]] = [
            {"id": eid(n), "status": "FAILED", "error": http_503(n)} for n in range(failed)
        ]
        rows[0]["error"] = None  # a failure without a message
        rows.append({"id": eid(failed), "status": "SUCCESS", "error": None})
        conn.execute(
            sa.text(
                "INSERT INTO workflow_execution (id, workflow_id, workflow_version, status,"
                " trigger_type, trigger_data, error, created_at, available_at, retry_count,"
                " next_step, cancel_requested, event_depth)"
                " VALUES (:id, 'w1', 1, :status, 'manual', '{}', :error, :at, :at, 0, 0,"
                " false, 0)"
            ),
            [{**row, "at": created} for row in rows],
        )


def test_the_migration_signs_every_failed_row_already_there(db_at_0007: Database) -> None:
    failed = 2 * BATCH + 3  # three batches, the last one short
    add_old_rows(db_at_0007, failed)

    upgrade(db_at_0007)

    stored = signatures(db_at_0007)
    assert stored[eid(failed)] is None  # the SUCCESS run
    assert stored[eid(0)] == ""  # failed without a message: signed, as ""
    expected = normalise_error(http_503(1))
    assert expected.startswith("HTTP 503 from https://erp.example.com/hook/#")
    assert {stored[eid(n)] for n in range(1, failed)} == {expected}


def test_the_backfill_signs_only_failed_rows_left_unsigned(sqlite_db: Database) -> None:
    seed(sqlite_db)
    with sqlite_db.engine.begin() as conn:
        conn.execute(sa.update(EXECUTIONS).where(E.id == eid(4)).values(error_signature="kept"))

    assert sign_stored_rows(sqlite_db) == 10 - 1  # ten FAILED rows in seed(), one signed

    stored = signatures(sqlite_db)
    assert stored[eid(4)] == "kept"
    assert stored[eid(1)] == normalise_error(http_503(1))
    assert stored[eid(11)] is None  # PENDING
    assert sign_stored_rows(sqlite_db) == 0


# --- the clusters -----------------------------------------------------------------------


def cluster_view(db: Database) -> list[tuple[Any, ...]]:
    return [
        (c.key, c.workflow, c.count, c.first_seen, c.last_seen, c.transient)
        for c in list_failure_clusters(db, since=SINCE)
    ]


def test_stored_signatures_give_the_clusters_read_time_normalisation_gave(
    any_db: Database,
) -> None:
    seed(any_db)
    assert set(signatures(any_db).values()) == {None}
    read_time = cluster_view(any_db)

    sign_stored_rows(any_db)

    assert None not in {s for i, s in signatures(any_db).items() if i != eid(11)}
    assert cluster_view(any_db) == read_time


def test_signed_and_unsigned_rows_of_one_cluster_count_together(any_db: Database) -> None:
    seed(any_db)
    read_time = cluster_view(any_db)
    with any_db.engine.begin() as conn:  # two of the three 503s of billing signed
        conn.execute(
            sa.update(EXECUTIONS)
            .where(E.id.in_([eid(1), eid(3)]))
            .values(error_signature=normalise_error(http_503(1)))
        )

    assert cluster_view(any_db) == read_time
    top = list_failure_clusters(any_db, since=SINCE)[0]
    assert cluster_execution_ids(any_db, top.key, since=SINCE) == [eid(1), eid(2), eid(3)]


def test_the_clusters_group_by_the_stored_signature(any_db: Database) -> None:
    seed(any_db)
    sign_stored_rows(any_db)
    with any_db.engine.begin() as conn:  # the two 404s, stored as the 503s' signature
        conn.execute(
            sa.update(EXECUTIONS)
            .where(E.id.in_([eid(4), eid(5)]))
            .values(error_signature=normalise_error(http_503(1)))
        )

    errors_404 = {execution_error(any_db, eid(4)), execution_error(any_db, eid(5))}

    top = list_failure_clusters(any_db, since=SINCE)[0]

    assert (top.workflow, top.action_type, top.count) == ("billing", "webhook", 5)
    assert top.signature == normalise_error(http_503(1))
    assert top.sample_error in {http_503(1), http_503(2), http_503(3), *errors_404}
    ids = cluster_execution_ids(any_db, top.key, since=SINCE)
    assert ids == [eid(1), eid(4), eid(5), eid(2), eid(3)]


def test_the_demo_history_signs_its_failures(any_db: Database) -> None:
    seed_demo(any_db, executions=300, actor="tester")

    with any_db.engine.connect() as conn:
        rows = conn.execute(sa.select(E.status, E.error, E.error_signature)).all()
    failed = [row for row in rows if row.status == "FAILED"]
    assert failed
    assert all(row.error_signature == normalise_error(row.error) for row in failed)
    assert {row.error_signature for row in rows if row.status != "FAILED"} == {None}
