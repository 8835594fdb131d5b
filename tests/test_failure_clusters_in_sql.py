"""Failure clusters ranked and cut in SQL (issue 15) are the clusters of every failure.

Hundreds of failures over three workflows, dozens of signatures with tied counts and
tied last sightings, on SQLite and PostgreSQL: ``list_failure_clusters`` equals a
reference built here row by row, at any limit; with part of the rows unsigned (also when
the unsigned rows lift a cluster into the top); and down the paths that merge in Python.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from engine.db import Database
from engine.execution.error_signature import MAX_INPUT, classify_error, normalise_error
from engine.models import Workflow, WorkflowExecution, new_id, table_of
from engine.services import failures
from engine.services.failures import NO_ACTION, list_failure_clusters

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=24)
EXECUTIONS = table_of(WorkflowExecution)
E = EXECUTIONS.c
WORKFLOWS = {"billing": ["slack", "webhook"], "alerts": ["sms"], "orders": ["webhook", "email"]}
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _text(number: int) -> str:
    """A message whose signature is one of 37 (letters survive normalising, ids do not);
    every fifth one mentions a step past the last action."""
    kind = (number % 13) * (number % 5) % 37
    return f"step 1 (x): kind {LETTERS[kind % 26]}{LETTERS[kind // 26]} failed for id {number}"


@pytest.fixture
def seeded(any_db: Database) -> Database:
    """600 failures in the window, 20 before it; three rows share every timestamp (one per
    workflow), so clusters of different workflows tie on count and last sighting."""
    ids = []
    with any_db.engine.begin() as conn:
        for name, actions in WORKFLOWS.items():
            workflow = Workflow(
                name=name, triggers=[{"type": "manual"}], actions=[{"type": a} for a in actions]
            )
            conn.execute(sa.insert(table_of(Workflow)), workflow.model_dump(exclude_none=True))
            ids.append((workflow.id, len(actions)))
    rows = []
    for number in range(620):
        workflow_id, steps = ids[number % 3]
        before = timedelta(days=2) if number >= 600 else timedelta(0)
        at = NOW - timedelta(minutes=number // 3) - before
        error = _text(number) if number % 41 else None
        rows.append({
            "id": new_id(), "workflow_id": workflow_id, "workflow_version": 1,
            "status": "FAILED", "trigger_type": "manual", "trigger_data": {},
            "error": error, "error_signature": normalise_error(error), "created_at": at,
            "started_at": at, "completed_at": at if number % 7 else None,
            "duration_ms": 5.0, "retry_count": 0, "available_at": at,
            "next_step": (number // 3) % (steps + 1), "cancel_requested": False,
            "event_depth": 0,
        })  # fmt: skip
    with any_db.engine.begin() as conn:
        conn.execute(sa.insert(EXECUTIONS), rows)
    return any_db


def _reference(db: Database, limit: int) -> list[tuple[Any, ...]]:
    """Every failure of the window read and clustered in Python, in the service's order."""
    with db.engine.connect() as conn:
        names, actions = {}, {}
        for row in conn.execute(sa.select(table_of(Workflow))):
            names[row.id] = row.name
            actions[row.id] = [a["type"] for a in row.actions]
        query = sa.select(EXECUTIONS).where(E.status == "FAILED", E.created_at >= SINCE)
        rows = list(conn.execute(query))
    clusters: dict[tuple[str, str, str], list[Any]] = {}
    for row in rows:
        steps = actions[row.workflow_id]
        action = steps[row.next_step] if row.next_step < len(steps) else NO_ACTION
        text = (row.error or "")[:MAX_INPUT]
        signature = (
            row.error_signature if row.error_signature is not None else normalise_error(text)
        )
        seen = _utc(row.completed_at or row.created_at)
        key = (row.workflow_id, action, signature)
        entry = clusters.setdefault(key, [0, seen, seen, row.id, text])
        entry[0] += 1
        entry[1], entry[2] = min(entry[1], seen), max(entry[2], seen)
        if row.id > entry[3]:
            entry[3], entry[4] = row.id, text
    ranked = sorted(
        clusters.items(),
        key=lambda item: (-item[1][0], -item[1][2].timestamp(), names[item[0][0]], item[0][2]),
    )[:limit]
    return [
        (key, names[key[0]], n, first, last, classify_error(sample), sample)
        for key, (n, first, last, _, sample) in ranked
    ]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _clusters(db: Database, limit: int) -> list[tuple[Any, ...]]:
    return [
        ((c.key.workflow_id, c.action_type, c.signature), c.workflow, c.count, c.first_seen,
         c.last_seen, c.transient, c.sample_error)
        for c in list_failure_clusters(db, since=SINCE, limit=limit)
    ]  # fmt: skip


def _unsign(db: Database, *, where: Any) -> int:
    with db.engine.begin() as conn:
        return int(
            conn.execute(sa.update(EXECUTIONS).where(where).values(error_signature=None)).rowcount
        )


@pytest.mark.parametrize("limit", [1, 7, 25, 500])
def test_clusters_equal_the_row_by_row_reference(seeded: Database, limit: int) -> None:
    expected = _reference(seeded, limit)
    assert len(expected) == min(limit, len(_reference(seeded, 10_000)))
    assert _clusters(seeded, limit) == expected


def test_the_reference_has_ties_for_the_database_to_break(seeded: Database) -> None:
    ranked = [(count, last) for _, _, count, _, last, _, _ in _reference(seeded, 10_000)]
    assert len(ranked) > len(set(ranked)) > 20


def test_unsigned_rows_cluster_as_if_signed(seeded: Database) -> None:
    expected = _reference(seeded, 25)
    assert _unsign(seeded, where=E.id.in_(_every_other_id(seeded))) > 100
    assert _clusters(seeded, 25) == expected == _reference(seeded, 25)


def test_unsigned_rows_can_lift_a_cluster_into_the_top(seeded: Database) -> None:
    signed = _clusters(seeded, 10_000)
    outside = signed[12]  # well outside a top 3
    key, steps = outside[0], WORKFLOWS[outside[1]]
    step = steps.index(key[1]) if key[1] != NO_ACTION else len(steps)
    with seeded.engine.begin() as conn:
        template = (
            conn.execute(
                sa.select(EXECUTIONS)
                .where(
                    E.workflow_id == key[0],
                    E.next_step == step,
                    E.error_signature == key[2],
                    E.created_at >= SINCE,
                )
                .limit(1)
            )
            .one()
            ._asdict()
        )
        extra = [
            {**template, "id": new_id(), "error_signature": None,
             "created_at": NOW - timedelta(seconds=30 + n), "completed_at": None}
            for n in range(signed[0][2] + 1)
        ]  # fmt: skip
        conn.execute(sa.insert(EXECUTIONS), extra)
    top = _clusters(seeded, 3)
    assert top[0][0] == key
    assert top == _reference(seeded, 3)


@pytest.mark.parametrize("path", ["many stopping points", "many unsigned signatures"])
def test_the_python_merge_gives_the_same_clusters(
    seeded: Database, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    expected = _reference(seeded, 25)
    _unsign(seeded, where=E.id.in_(_every_other_id(seeded)))
    monkeypatch.setattr(failures, "MAX_STOPS" if path.endswith("points") else "CHUNK", 2)
    assert _clusters(seeded, 25) == expected


def _every_other_id(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.execute(sa.select(E.id).order_by(E.id)).scalars())[::2]
