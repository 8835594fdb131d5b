"""Upgrading keeps every row: a migration that rebuilt ``workflow`` on SQLite once took
every execution with it (the old table's drop cascaded to its children).

Rows are written at an older revision with plain SQL (the models describe head), then the
database is upgraded to head and the rows are counted and read back.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from engine.db import Database, connect_database, upgrade
from tests.conftest import settings_for_url

AT = "2026-01-01 00:00:00+00:00"
ROWS = (
    "INSERT INTO workflow (id, name, enabled, version, triggers, actions, priority,"
    " max_retries, retry_delay, timeout, tags, execution_count, success_count, failure_count,"
    " created_at, updated_at) VALUES ('w1', 'kept', true, 1, '[]', '[]', 5, 3, 60, 300, '[]',"
    " 1, 0, 1, :at, :at)",
    "INSERT INTO workflow_execution (id, workflow_id, workflow_version, status, trigger_type,"
    " trigger_data, error, created_at, available_at, retry_count, next_step, cancel_requested,"
    " event_depth) VALUES ('e1', 'w1', 1, 'FAILED', 'manual', '{}', 'boom', :at, :at, 0, 0,"
    " false, 0)",
    "INSERT INTO workflow_execution_step (execution_id, step_index, action_type, status,"
    " attempt, started_at, completed_at, duration_ms) VALUES ('e1', 0, 'webhook', 'FAILED', 0,"
    " :at, :at, 1.0)",
    "INSERT INTO workflow_execution_log (execution_id, level, message, timestamp)"
    " VALUES ('e1', 'ERROR', 'boom', :at)",
)
TABLES = ("workflow", "workflow_execution", "workflow_execution_step", "workflow_execution_log")


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.getfixturevalue(f"{request.param}_url")


@pytest.mark.parametrize("revision", ["0001", "0007", "0011"])
def test_upgrading_to_head_keeps_every_workflow_execution_step_and_log(
    url: str, revision: str
) -> None:
    db: Database = connect_database(settings_for_url(url))
    try:
        upgrade(db, revision)
        with db.engine.begin() as conn:
            for statement in ROWS:
                conn.execute(sa.text(statement), {"at": AT})
        upgrade(db)
        with db.engine.connect() as conn:
            counts = {
                t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES
            }
            error = conn.execute(sa.text("SELECT error FROM workflow_execution")).scalar()
            flags = conn.execute(
                sa.text("SELECT flow_gated, rate_window_count FROM workflow")
            ).one()
    finally:
        db.dispose()
    assert counts == dict.fromkeys(TABLES, 1)
    assert error == "boom"
    assert (bool(flags[0]), flags[1]) == (False, 0)
