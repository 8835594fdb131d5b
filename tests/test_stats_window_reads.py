"""The reads that make ``wfconsole stats`` fast at a million executions (issue 15) give
the figures a plain read of the rows gives.

Failure reasons on PostgreSQL come from two partial indexes (migration 0013): messages
that fit an index entry index-only, longer ones through the heap. Messages of every
length around the split (and NULL, empty, multi-byte text) count the same on SQLite and
PostgreSQL, and a failure with a message far too long for an index entry is written at
all. The window's daily and per-workflow read, split into parts read on connections of
their own, adds up to the one-part read.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from engine.core_tables import EXECUTION, WORKFLOW
from engine.db import Database
from engine.demo.seed import seed_demo
from engine.execution.error_signature import normalise_error
from engine.models import WorkflowExecution, new_id, table_of
from engine.plain_reads.reader import Reader, pyformat
from engine.plain_reads.window_figures import window_figures, window_rows, window_totals
from engine.services.failure_reasons import failure_reasons
from tests.test_stats_in_sql import reference_reasons

E, W = EXECUTION.c, WORKFLOW.c
INDEXED_BYTES = 2000
"""The longest message (in UTF-8 bytes) ``idx_execution_failed_message`` holds."""
# (message, failures): lengths on both sides of the split, in one-byte and four-byte
# characters, a message whose signature is long too, NULL and "", and messages over the
# split that are the most common of a signature shared with short ones.
LONG_TAIL = "x" * (INDEXED_BYTES - len("payload rejected: "))
MESSAGES: tuple[tuple[str | None, int], ...] = (
    ("payload rejected: " + LONG_TAIL, 7),  # exactly 2,000 bytes: indexed
    ("payload rejected: " + LONG_TAIL + "y", 9),  # 2,001 bytes: the long index
    ("payload rejected: short", 3),
    ("\U0001f4a5" * (INDEXED_BYTES // 4), 4),  # 2,000 bytes in 500 characters
    ("\U0001f4a5" * (INDEXED_BYTES // 4 + 1), 5),  # 2,004 bytes
    ("upstream said " + "\u00e9" * 60_000, 2),  # 120 kB: no index entry could hold it
    ("w\u00f6rd " * 119 + "end", 6),  # a 120-character signature of two-byte letters
    (None, 3),
    ("", 2),
)


def _add_failures(db: Database, now: datetime) -> None:
    with db.engine.connect() as conn:
        workflow_id = conn.execute(sa.select(W.id).order_by(W.name).limit(1)).scalar_one()
    rows = []
    for position, (error, count) in enumerate(MESSAGES):
        for number in range(count):
            at = now - timedelta(hours=position + 1, seconds=number)
            rows.append({
                "id": new_id(), "workflow_id": workflow_id, "workflow_version": 1,
                "status": "FAILED", "trigger_type": "manual", "trigger_data": {},
                "error": error, "error_signature": normalise_error(error), "created_at": at,
                "started_at": at, "completed_at": at, "duration_ms": 5.0,
                "retry_count": 0, "available_at": at, "next_step": 0,
                "cancel_requested": False, "event_depth": 0,
            })  # fmt: skip
    with db.engine.begin() as conn:
        conn.execute(sa.insert(table_of(WorkflowExecution)), rows)


@pytest.fixture
def failures(any_db: Database) -> tuple[Database, datetime]:
    """Demo history (so the messages above compete with the demo's) and the failures above."""
    seed_demo(any_db, executions=800, actor="tester")
    now = datetime.now(UTC)
    _add_failures(any_db, now)
    return any_db, now


def _reference(db: Database, now: datetime, limit: int = 10) -> list[dict[str, Any]]:
    """The failure reasons computed here from every FAILED row of the window."""
    query = sa.select(E.error).where(
        E.status == "FAILED", E.completed_at >= now - timedelta(days=30), E.completed_at <= now
    )
    with db.engine.connect() as conn:
        return reference_reasons(Counter(conn.execute(query).scalars()), limit)


def _reasons(db: Database, now: datetime, limit: int = 10) -> list[dict[str, Any]]:
    return [
        {"signature": r.signature, "failures": r.failures, "transient": r.transient,
         "example": r.example}
        for r in failure_reasons(db, now=now, limit=limit)
    ]  # fmt: skip


def test_messages_of_every_length_count_as_the_rows_say(
    failures: tuple[Database, datetime],
) -> None:
    db, now = failures
    reasons = _reasons(db, now, limit=100)
    assert reasons == _reference(db, now, limit=100)
    examples = {reason["example"] for reason in reasons}
    # The long messages are read (through the long index on PostgreSQL) and can win.
    assert "payload rejected: " + LONG_TAIL + "y" in examples
    assert "\U0001f4a5" * (INDEXED_BYTES // 4 + 1) in examples
    assert "upstream said " + "\u00e9" * 60_000 in examples
    assert _reasons(db, now) == _reference(db, now)


def test_unsigned_long_messages_count_as_if_signed(failures: tuple[Database, datetime]) -> None:
    db, now = failures
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(EXECUTION)
            .where(E.status == "FAILED", sa.func.length(E.error) > 1000)
            .values(error_signature=None)
        )
    assert _reasons(db, now, limit=100) == _reference(db, now, limit=100)


def test_failure_reasons_read_index_only_on_postgresql(postgres_db: Database) -> None:
    """The reasons' WHERE implies each partial index's predicate, so the planner takes
    them: the messages that fit from the index alone, the long ones through theirs. (The
    plan is read with sequential scans and bitmap scans off: on a small table the
    planner would rather read the table, which says nothing about a large one.)"""
    from engine.plain_reads import failure_reasons as module

    sql = module._GROUPED_PG + "SELECT stored, error, n FROM grouped"
    now = datetime.now(UTC)
    params = {"since": now - timedelta(days=30), "until": now}
    with Reader.of_engine(postgres_db.read_engine) as reader:
        cursor = reader.connection.cursor()
        with reader.connection.transaction():
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute("EXPLAIN " + pyformat(sql), params)
            plan = "\n".join(str(row[0]) for row in cursor.fetchall())
        cursor.close()
    assert "Index Only Scan using idx_execution_failed_message" in plan
    assert "using idx_execution_failed_long_message" in plan


def test_a_failure_of_any_message_length_is_written(postgres_db: Database) -> None:
    """The message index holds at most 2,000 bytes of message and 480 of signature (120
    four-byte characters): the largest entry still fits, and longer messages are not in it,
    so no failure is refused for its message."""
    seed_demo(postgres_db, executions=10, actor="tester")
    now = datetime.now(UTC)
    largest = "\U0001f4a5" * (INDEXED_BYTES // 4)
    with postgres_db.engine.connect() as conn:
        workflow_id = conn.execute(sa.select(W.id).limit(1)).scalar_one()
    rows = [
        {"id": new_id(), "workflow_id": workflow_id, "status": "FAILED",
         "trigger_type": "manual", "trigger_data": {}, "error": error,
         "error_signature": signature, "created_at": now, "completed_at": now,
         "available_at": now}
        for error, signature in (
            (largest, "\U0001f4a5" * 120),
            ("".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(400_000)), "big"),
        )
    ]  # fmt: skip
    with postgres_db.engine.begin() as conn:
        conn.execute(sa.insert(table_of(WorkflowExecution)), rows)
    with postgres_db.engine.connect() as conn:
        stored = conn.execute(
            sa.select(sa.func.octet_length(E.error)).where(E.id.in_([r["id"] for r in rows]))
        ).scalars()
        assert sorted(stored) == [INDEXED_BYTES, 1_200_000]


@pytest.mark.parametrize("parts", [2, 3, 31, 40])
def test_the_window_read_in_parts_adds_up_to_one_read(any_db: Database, parts: int) -> None:
    seed_demo(any_db, executions=1_500, actor="tester")
    now = datetime.now(UTC)
    with Reader.of_engine(any_db.read_engine) as reader:
        whole = window_figures(reader, now=now)
        rows = [row for part in range(parts)
                for row in window_rows(reader, now=now, part=part, parts=parts)]  # fmt: skip
        daily, counts = window_totals(rows, now=now)
    assert daily == whole[0]
    assert sorted(counts, key=lambda c: c.workflow) == sorted(whole[1], key=lambda c: c.workflow)
    assert sum(day.finished for day in daily) > 0 and len(counts) > 2
