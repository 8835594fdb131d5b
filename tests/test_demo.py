"""``wfconsole demo``: the sample workflows and the seeded history, on SQLite and PostgreSQL.

The history must look like real runs to every reader: final states only (no worker may
pick one up), counters that agree with the executions table, steps and logs that agree
with each execution, timestamps in the past week that read back as aware UTC.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import engine.demo.bulk
from engine.db import Database, connect_database, open_database, upgrade
from engine.definitions.conditions import evaluate, parse_condition
from engine.definitions.schema import ACTION_TYPES, TRIGGER_TYPES, validate_definition
from engine.demo.seed import DemoSummary, seed_demo, uuid7_at
from engine.demo.workflows import DEMO_WORKFLOWS
from engine.models import FINAL_STATUSES, new_id
from engine.services.executions import get_execution, list_executions
from engine.services.workflows import list_workflows
from tests.conftest import settings_for_url
from tests.pg import fresh_postgres_url

N = 1500
OPS = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists"}


def _condition_nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for key in ("all", "any"):
            for child in node.get(key, []):
                yield from _condition_nodes(child)
        if "not" in node:
            yield from _condition_nodes(node["not"])


# --- the sample workflows ---------------------------------------------------------------


@pytest.mark.parametrize("document", DEMO_WORKFLOWS, ids=lambda d: d["name"])
def test_every_sample_validates_and_round_trips_unchanged(document: dict[str, Any]) -> None:
    assert validate_definition(document).to_document() == document


def test_samples_use_every_trigger_action_and_condition_kind() -> None:
    triggers = {t["type"] for d in DEMO_WORKFLOWS for t in d["triggers"]}
    actions = {a["type"] for d in DEMO_WORKFLOWS for a in d["actions"]}
    nodes = [n for d in DEMO_WORKFLOWS for n in _condition_nodes(d["conditions"])]
    assert (triggers, actions) == (TRIGGER_TYPES, ACTION_TYPES)
    assert {n["op"] for n in nodes if "op" in n} == OPS
    assert all(any(key in n for n in nodes) for key in ("all", "any", "not"))


def test_samples_show_schedules_secrets_and_one_disabled_workflow() -> None:
    triggers = [t for d in DEMO_WORKFLOWS for t in d["triggers"]]
    assert any(t["type"] == "schedule" and t["timezone"] != "UTC" for t in triggers)
    hooks = [t for t in triggers if t["type"] == "webhook"]
    assert hooks and all(t["secret"].startswith("${") for t in hooks)
    urls = [a["url"] for d in DEMO_WORKFLOWS for a in d["actions"] if a["type"] == "webhook"]
    assert urls and all(".example.com/" in url for url in urls)
    assert [d["name"] for d in DEMO_WORKFLOWS if not d["enabled"]] == ["monthly-retainer-invoicing"]
    assert 6 <= len(DEMO_WORKFLOWS) <= 8


def test_uuid7_at_sorts_by_time_and_before_ids_made_now() -> None:
    rng = random.Random(3)
    start = datetime.now(UTC) - timedelta(days=1)
    ids = [uuid7_at(start + timedelta(microseconds=i * 250), rng) for i in range(2000)]
    assert ids == sorted(ids)
    assert {uuid.UUID(i).version for i in ids} == {7}
    assert ids[-1] < new_id()


# --- the seeded history -----------------------------------------------------------------


def _scalar(db: Database, sql: str) -> Any:
    with db.engine.connect() as connection:
        return connection.execute(text(sql)).scalar_one()


def _rows(db: Database, sql: str) -> list[Any]:
    with db.engine.connect() as connection:
        return list(connection.execute(text(sql)).all())


def assert_consistent_history(db: Database, executions: int) -> None:
    """Every check that holds for any seeded database, whatever its engine."""
    assert _scalar(db, "SELECT count(*) FROM workflow_execution") == executions
    statuses = dict(_rows(db, "SELECT status, count(*) FROM workflow_execution GROUP BY status"))
    assert set(statuses) <= set(FINAL_STATUSES)
    counted = {
        (row.workflow_id, row.status): row.n
        for row in _rows(
            db, "SELECT workflow_id, status, count(*) AS n FROM workflow_execution GROUP BY 1, 2"
        )
    }
    for row in _rows(db, "SELECT * FROM workflow"):
        assert row.execution_count == sum(n for (w, _), n in counted.items() if w == row.id)
        assert row.success_count == counted.get((row.id, "SUCCESS"), 0)
        assert row.failure_count == counted.get((row.id, "FAILED"), 0)
    for summary in list_workflows(db):
        expected = _rows(
            db,
            "SELECT max(completed_at), avg(duration_ms) FROM workflow_execution"
            f" WHERE workflow_id = '{summary.id}' AND status IN ('SUCCESS', 'FAILED')",
        )[0]
        latest = _rows(
            db,
            f"SELECT max(completed_at) FROM workflow_execution WHERE workflow_id = '{summary.id}'",
        )[0][0]
        if summary.execution_count:
            assert summary.avg_execution_ms == pytest.approx(float(expected[1]))
            assert summary.last_execution_at is not None
            assert _same_instant(summary.last_execution_at, latest)
    bad_steps = _scalar(
        db,
        "SELECT count(*) FROM workflow_execution e WHERE (SELECT count(*) FROM"
        " workflow_execution_step s WHERE s.execution_id = e.id AND s.status = 'FAILED')"
        " <> CASE WHEN e.status = 'FAILED' THEN 1 ELSE 0 END",
    )
    assert bad_steps == 0
    actions = {w.id: w.action_count for w in list_workflows(db)}
    per_success = _rows(
        db,
        "SELECT workflow_id, min(n), max(n) FROM (SELECT e.workflow_id, count(s.id) AS n"
        " FROM workflow_execution e LEFT JOIN workflow_execution_step s"
        " ON s.execution_id = e.id WHERE e.status = 'SUCCESS' GROUP BY e.id, e.workflow_id)"
        " AS c GROUP BY workflow_id",
    )
    assert all(low == high == actions[workflow] for workflow, low, high in per_success)
    log_counts = _rows(
        db,
        "SELECT min(n), max(n) FROM (SELECT count(l.id) AS n FROM workflow_execution e"
        " LEFT JOIN workflow_execution_log l ON l.execution_id = e.id GROUP BY e.id) AS c",
    )[0]
    assert log_counts[0] >= 2 and log_counts[1] <= 5


def _same_instant(value: datetime, stored: Any) -> bool:
    if isinstance(stored, str):  # SQLite hands raw text back to text() queries
        stored = datetime.fromisoformat(stored).replace(tzinfo=UTC)
    return bool(value == stored)


def assert_reads_back_like_real_runs(db: Database, summary: DemoSummary) -> None:
    """The services see aware UTC times in the past week, ids in time order, details."""
    now = datetime.now(UTC)
    rows = list_executions(db, limit=1000)
    assert all(now - timedelta(days=7, minutes=1) <= r.created_at <= now for r in rows)
    assert all(r.completed_at is not None and r.completed_at <= now for r in rows)
    assert [r.id for r in rows] == sorted((r.id for r in rows), reverse=True)
    failed = list_executions(db, status="FAILED", limit=1000)
    assert len({r.error for r in failed}) >= 5
    assert {r.retry_count for r in failed} >= {0, 3}
    detail = get_execution(db, failed[0].id)
    assert detail.steps[-1].status == "FAILED" and detail.steps[-1].error == failed[0].error
    assert 2 <= len(detail.logs) <= 5 and detail.logs[0].timestamp.tzinfo is not None
    assert {"DEBUG", "INFO", "WARNING", "ERROR"} == {
        level for (level,) in _rows(db, "SELECT DISTINCT level FROM workflow_execution_log")
    }
    skipped = list_executions(db, status="SKIPPED", limit=20)
    conditions = {
        d["name"]: parse_condition(d["conditions"]) for d in DEMO_WORKFLOWS if d["conditions"]
    }
    for row in skipped:
        payload = get_execution(db, row.id).trigger_data
        assert not evaluate(conditions[row.workflow], {"trigger": payload})
    assert summary.by_status["SUCCESS"] > 0.7 * summary.executions
    assert 0.05 * summary.executions < summary.by_status["FAILED"] < 0.15 * summary.executions
    assert summary.by_status["SKIPPED"] > 0 and summary.by_status["CANCELLED"] > 0


@pytest.fixture(scope="module")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Any]]:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    db = open_database(settings_for_url(f"sqlite:///{path}"))
    summary = seed_demo(db, executions=N, actor="tester")
    yield db, summary
    db.dispose()


@pytest.fixture(scope="module")
def seeded_postgres() -> Iterator[tuple[Database, Any]]:
    with fresh_postgres_url("wf_demo") as url:
        db = connect_database(settings_for_url(url))
        upgrade(db)
        summary = seed_demo(db, executions=N, actor="tester")
        yield db, summary
        db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def seeded(request: pytest.FixtureRequest) -> tuple[Database, DemoSummary]:
    result: tuple[Database, DemoSummary] = request.getfixturevalue(f"seeded_{request.param}")
    return result


def test_seeded_history_is_final_and_matches_the_counters(seeded: tuple[Database, Any]) -> None:
    db, summary = seeded
    assert (summary.workflows, summary.executions) == (len(DEMO_WORKFLOWS), N)
    assert_consistent_history(db, N)
    assert _scalar(db, "SELECT count(*) FROM workflow_execution_step") == summary.steps
    assert _scalar(db, "SELECT count(*) FROM workflow_execution_log") == summary.logs


def test_seeded_history_reads_back_like_real_runs(seeded: tuple[Database, Any]) -> None:
    assert_reads_back_like_real_runs(*seeded)


def test_the_disabled_workflow_has_no_recent_runs(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    [paused] = [w for w in list_workflows(db) if not w.enabled]
    assert paused.execution_count > 0 and paused.last_execution_at is not None
    assert paused.last_execution_at < datetime.now(UTC) - timedelta(days=2)


def test_seeding_again_keeps_the_workflows_and_adds_executions(tmp_path: Path) -> None:
    db = open_database(settings_for_url(f"sqlite:///{tmp_path / 'twice.db'}"))
    try:
        seed_demo(db, executions=200, actor="tester")
        seed_demo(db, executions=300, actor="tester", seed=2)
        workflows = list_workflows(db)
        assert len(workflows) == len(DEMO_WORKFLOWS) and {w.version for w in workflows} == {1}
        assert_consistent_history(db, 500)
    finally:
        db.dispose()


def test_zero_executions_saves_only_the_workflows(sqlite_db: Database) -> None:
    summary = seed_demo(sqlite_db, executions=0, actor="tester")
    assert (summary.workflows, summary.executions, summary.steps) == (len(DEMO_WORKFLOWS), 0, 0)
    assert [w.execution_count for w in list_workflows(sqlite_db)] == [0] * len(DEMO_WORKFLOWS)


def test_a_negative_count_is_refused(sqlite_db: Database) -> None:
    with pytest.raises(ValueError, match="executions"):
        seed_demo(sqlite_db, executions=-1, actor="tester")


def test_progress_is_reported_per_chunk(sqlite_db: Database, monkeypatch: Any) -> None:
    monkeypatch.setattr("engine.demo.seed.CHUNK", 40)
    calls: list[tuple[int, int]] = []
    seed_demo(sqlite_db, executions=100, actor="tester", progress=lambda *c: calls.append(c))
    assert calls == [(40, 100), (80, 100), (100, 100)]


# --- PostgreSQL's bulk path: indexes and keys dropped, then rebuilt ----------------------

# A rebuilt partial index's predicate may print differently (same meaning: PostgreSQL
# re-deparses the casts), so predicates compare as present or not.
_SCHEMA = """SELECT 'i:' || indexname || ' ' || split_part(indexdef, ' WHERE ', 1)
        || CASE WHEN indexdef LIKE '% WHERE %' THEN ' WHERE ...' ELSE '' END
    FROM pg_indexes WHERE tablename LIKE 'workflow%' UNION ALL
    SELECT 'c:' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
    WHERE conrelid::regclass::text LIKE 'workflow%' ORDER BY 1"""


@pytest.fixture
def bulk_postgres(monkeypatch: Any) -> Iterator[Database]:
    monkeypatch.setattr(engine.demo.bulk, "BULK_MIN", 100)
    with fresh_postgres_url("wf_demo_bulk") as url:
        db = connect_database(settings_for_url(url))
        upgrade(db)
        yield db
        db.dispose()


def test_a_bulk_load_rebuilds_every_index_and_key(bulk_postgres: Database) -> None:
    schema = _rows(bulk_postgres, _SCHEMA)
    seed_demo(bulk_postgres, executions=400, actor="tester")
    assert _rows(bulk_postgres, _SCHEMA) == schema
    assert_consistent_history(bulk_postgres, 400)


def test_a_failed_bulk_load_leaves_nothing_behind(
    bulk_postgres: Database, monkeypatch: Any
) -> None:
    schema = _rows(bulk_postgres, _SCHEMA)

    def broken(*_: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(engine.demo.bulk.PostgresWriter, "update_counters", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        seed_demo(bulk_postgres, executions=400, actor="tester")
    assert _rows(bulk_postgres, _SCHEMA) == schema
    assert _scalar(bulk_postgres, "SELECT count(*) FROM workflow_execution") == 0
