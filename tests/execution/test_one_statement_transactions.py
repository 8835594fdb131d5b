"""Transactions that are one statement on PostgreSQL (issue 14): a trigger's inserts whose
skipped runs are of one workflow, and a round of finishes of one workflow, go as one
statement with their rows as JSON; with several workflows (or an audit row) the same
writes go pipelined between BEGIN and COMMIT. Either way the rows, log lines and
counters are the same: the insert tests run on SQLite too, for the same results.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from engine.execution import claims as store
from engine.execution import postgres_pipeline
from engine.execution.claims import PendingWrites
from engine.execution.commit_rounds import RoundItem
from engine.execution.decisions import SKIPPED_LOG, Finish
from engine.models import utcnow
from engine.triggers.new_executions import _row, insert_groups
from engine.workflow_cache.lookups import find_workflow
from tests.execution_support import Engine, assert_counters_match_table, execution_row
from tests.http_sink import HttpSink

E = store.E
# What a sender may put in a body: quotes, backslashes, a JSON text inside a string,
# non-ASCII, a big integer, a float, nesting, null, an empty key.
HOSTILE = {
    "quote": "a\"b'c",
    "backslash": "C:\\path\\n",
    "json_text": '{"rows": [1, 2]}',
    "unicode": "Grüße ✓ 漢字 \u2028",
    "big": 2**62,
    "float": 0.1,
    "nested": {"list": [None, True, {"deep": "x"}]},
    "": "empty key",
}


def _ref(engine: Engine, name: str) -> tuple[str, int]:
    ref = find_workflow(engine.db, name)
    assert ref is not None
    return ref.id, ref.version


def _skipped(row: dict[str, Any]) -> dict[str, Any]:
    row.update(status="SKIPPED", started_at=row["created_at"], completed_at=row["created_at"],
               duration_ms=0.0)  # fmt: skip
    return row


def _logs(engine: Engine, ids: list[str]) -> dict[str, list[str]]:
    with engine.db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(store.LOGS.c.execution_id, store.LOGS.c.message)
            .where(store.LOGS.c.execution_id.in_(ids))
            .order_by(store.LOGS.c.id)
        ).all()
    found: dict[str, list[str]] = {i: [] for i in ids}
    for execution_id, message in rows:
        found[execution_id].append(message)
    return found


@pytest.mark.parametrize("workflows", [1, 2])
def test_a_group_commit_writes_its_rows_log_lines_and_counters(
    engine: Engine, http_sink: HttpSink, workflows: int
) -> None:
    names = [engine.workflow(f"orders{n}", [http_sink.url("/hook")]) for n in range(workflows)]
    refs = [_ref(engine, name) for name in names]
    now = utcnow()
    groups = [
        [_row(*refs[0], "webhook", HOSTILE, now, 0)],
        [_skipped(_row(*ref, "webhook", {"n": i}, now + timedelta(microseconds=i), 0))
         for i, ref in enumerate(refs, start=1)],
        [_skipped(_row(*refs[-1], "webhook", {}, now + timedelta(seconds=1), 0))],
    ]  # fmt: skip

    assert insert_groups(engine.db, groups) == [True, True, True]

    ids = [row["id"] for group in groups for row in group]
    first = execution_row(engine.db, ids[0])
    assert (first.status, first.trigger_data, first.created_at) == ("PENDING", HOSTILE, now)
    for row in (row for group in groups[1:] for row in group):
        stored = execution_row(engine.db, row["id"])
        assert (stored.status, stored.completed_at) == ("SKIPPED", row["completed_at"])
        assert stored.trigger_data == row["trigger_data"]
    logs = _logs(engine, ids)
    assert logs[ids[0]] == []
    assert all(logs[i] == [SKIPPED_LOG] for i in ids[1:])
    for name in names:
        assert_counters_match_table(engine.db, name)


def test_a_group_whose_workflow_changed_is_left_out_and_the_rest_go_in(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = engine.workflow("orders", [http_sink.url("/hook")])
    workflow_id, version = _ref(engine, name)
    now = utcnow()
    stale = [_skipped(_row(workflow_id, version - 1, "webhook", {}, now, 0))]
    current = [_skipped(_row(workflow_id, version, "webhook", {}, now, 0))]

    assert insert_groups(engine.db, [stale, current]) == [False, True]

    with engine.db.engine.connect() as conn:
        stored = conn.execute(sa.select(E.id).where(E.workflow_id == workflow_id)).scalars()
        assert list(stored) == [current[0]["id"]]
    assert_counters_match_table(engine.db, name)


def _claimed(engine: Engine, name: str, count: int, worker: str) -> list[str]:
    ids = [engine.trigger(name) for _ in range(count)]
    now = utcnow()
    with engine.db.engine.begin() as conn:
        for execution_id in ids:
            claimed = store.claim(
                conn, execution_id, now=now, lease_until=now + timedelta(minutes=1),
                worker_id=worker, max_running=100,
            )  # fmt: skip
            assert isinstance(claimed, store.Claimed)
    return ids


def _finish(engine: Engine, execution_id: str, workflow_id: str, failed: bool) -> RoundItem:
    started = execution_row(engine.db, execution_id).started_at
    completed = started + timedelta(milliseconds=12, microseconds=345)
    step = {
        "execution_id": execution_id, "step_index": 0, "action_type": "webhook",
        "status": "FAILED" if failed else "SUCCESS", "result": None if failed else HOSTILE,
        "error": "HTTP 500 from sink" if failed else None, "attempt": 0,
        "started_at": started, "completed_at": completed, "duration_ms": 12.345,
    }  # fmt: skip
    log = {
        "execution_id": execution_id, "level": "INFO", "message": "finished",
        "data": {"quote": 'a"b'}, "step_index": 0, "timestamp": completed,
    }  # fmt: skip
    decision = Finish(
        status="FAILED" if failed else "SUCCESS",
        error="HTTP 500 from sink" if failed else None,
        completed_at=completed,
        duration_ms=12.345,
        result=None if failed else {"last": HOSTILE},
        error_signature="HTTP <n> from sink" if failed else None,
    )
    return RoundItem(execution_id, workflow_id, 1, decision, PendingWrites([step], [log]))


@pytest.mark.parametrize("workflows", [1, 2])
def test_a_round_of_finishes_writes_only_the_runs_still_ours(
    engine: Engine, http_sink: HttpSink, workflows: int
) -> None:
    if engine.db.engine.dialect.name != "postgresql":
        pytest.skip("finish_round is PostgreSQL's fast path")
    names = [engine.workflow(f"flow{n}", [http_sink.url("/hook")]) for n in range(workflows)]
    ours = [i for name in names for i in _claimed(engine, name, 2, "w-ours")]
    [theirs] = _claimed(engine, names[0], 1, "w-other")
    workflow_of = {i: _ref(engine, names[n // 2])[0] for n, i in enumerate(ours)} | {
        theirs: _ref(engine, names[0])[0]
    }
    items = [_finish(engine, i, workflow_of[i], failed=n == 1) for n, i in enumerate(ours)]
    items.append(_finish(engine, theirs, workflow_of[theirs], failed=False))

    with engine.db.engine.connect() as conn:
        finished = postgres_pipeline.finish_round(conn, items, worker_id="w-ours")

    assert finished == set(ours)
    for item in items[:-1]:
        row = execution_row(engine.db, item.execution_id)
        decision = item.decision
        assert isinstance(decision, Finish)
        assert (row.status, row.completed_at, row.duration_ms) == (
            decision.status,
            decision.completed_at,
            decision.duration_ms,
        )
        assert (row.result, row.error, row.error_signature, row.lease_until) == (
            decision.result,
            decision.error,
            decision.error_signature,
            None,
        )
        with engine.db.engine.connect() as conn:
            step = conn.execute(
                sa.select(store.STEPS).where(store.STEPS.c.execution_id == item.execution_id)
            ).one()
        assert (step.result, step.completed_at) == (
            item.writes.steps[0]["result"],
            item.writes.steps[0]["completed_at"],
        )
    assert _logs(engine, [*ours, theirs]) == {**{i: ["finished"] for i in ours}, theirs: []}
    assert execution_row(engine.db, theirs).status == "RUNNING"
    for name in names:
        assert_counters_match_table(engine.db, name)
