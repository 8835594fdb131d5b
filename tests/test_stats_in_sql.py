"""``wfconsole stats`` read in SQL (issue 15) gives what reading every row gives.

On demo history plus failures chosen for the edges (no message, tied counts, tied
examples), on SQLite and PostgreSQL, the daily figures, per-workflow counts and failure
reasons equal a reference computed here in Python from the raw rows — with every failure
signed, and with about half of them left unsigned (rows failed before migration 0008).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from engine.core_tables import EXECUTION, WORKFLOW
from engine.db import Database
from engine.demo.seed import seed_demo
from engine.execution.error_signature import classify_error, normalise_error
from engine.models import WorkflowExecution, new_id, table_of
from engine.services.stats_report import collect_statistics, statistics_document

E, W = EXECUTION.c, WORKFLOW.c
DAYS = 30
# Failures added to the demo's: (error, how many, minutes ago). Two messages share one
# signature with equal counts (the greater text is the example), two signatures tie on
# their counts (ordered by signature), and NULL and "" are both "(no message)".
EXTRA_FAILURES = (
    ("lookup of order 17 failed: zeta", 20, 30),
    ("lookup of order 18 failed: zeta", 20, 40),
    ("quota exceeded for tenant alpha", 25, 50),
    ("quota exceeded for tenant beta", 25, 60),
    (None, 15, 70),
    ("", 15, 80),
    ("an old failure, outside the window", 1, (DAYS + 2) * 24 * 60),
)


@pytest.fixture
def history(any_db: Database) -> tuple[Database, datetime]:
    """1,500 demo runs of the past week and the failures above, all signed."""
    seed_demo(any_db, executions=1500, actor="tester")
    now = datetime.now(UTC)
    with any_db.engine.connect() as conn:
        workflow_id = conn.execute(sa.select(W.id).order_by(W.name).limit(1)).scalar_one()
    rows = []
    for error, count, minutes in EXTRA_FAILURES:
        for number in range(count):
            at = now - timedelta(minutes=minutes, seconds=number)
            rows.append({
                "id": new_id(), "workflow_id": workflow_id, "workflow_version": 1,
                "status": "FAILED", "trigger_type": "manual", "trigger_data": {},
                "error": error, "error_signature": normalise_error(error), "created_at": at,
                "started_at": at, "completed_at": at, "duration_ms": 10.0 + number,
                "retry_count": 0, "available_at": at, "next_step": 0,
                "cancel_requested": False, "event_depth": 0,
            })  # fmt: skip
    with any_db.engine.begin() as conn:
        conn.execute(sa.insert(table_of(WorkflowExecution)), rows)
    return any_db, now


def _rows(db: Database) -> list[Any]:
    query = sa.select(
        W.name, E.status, E.completed_at, E.duration_ms, E.error, E.error_signature
    ).join(WORKFLOW, W.id == E.workflow_id)
    with db.engine.connect() as conn:
        rows = [SimpleNamespace(**row._asdict()) for row in conn.execute(query)]
    for row in rows:
        if row.completed_at is not None and row.completed_at.tzinfo is None:
            row.completed_at = row.completed_at.replace(tzinfo=UTC)  # naive UTC on SQLite
    return rows


def _reference(rows: list[Any], now: datetime) -> dict[str, Any]:
    """The three figures as the read-time implementation defined them, row by row."""
    first = now.date() - timedelta(days=DAYS - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    since = now - timedelta(days=DAYS)
    finished = [r for r in rows if r.completed_at is not None and r.completed_at <= now]
    daily = []
    for offset in range(DAYS):
        day = first + timedelta(days=offset)
        runs = [r for r in finished if r.completed_at >= start and r.completed_at.date() == day]
        timed = [r.duration_ms for r in runs
                 if r.status in ("SUCCESS", "FAILED") and r.duration_ms is not None]  # fmt: skip
        succeeded = sum(r.status == "SUCCESS" for r in runs)
        failed = sum(r.status == "FAILED" for r in runs)
        decided = succeeded + failed
        daily.append({
            "date": day.isoformat(), "finished": len(runs), "succeeded": succeeded,
            "failed": failed, "success_rate": round(succeeded / decided, 4) if decided else None,
            "avg_duration_ms": round(sum(timed) / len(timed), 1) if timed else None,
        })  # fmt: skip
    window = [r for r in finished if r.completed_at >= since]
    per_workflow: dict[str, list[int]] = {}
    for r in window:
        counts = per_workflow.setdefault(r.name, [0, 0])
        counts[0] += 1
        counts[1] += r.status == "FAILED"
    return {
        "daily": daily,
        "top_failing_workflows": [
            {"workflow": name, "failures": f, "executions": n}
            for name, (n, f) in sorted(
                per_workflow.items(), key=lambda i: (-i[1][1], -i[1][0], i[0])
            )
            if f
        ][:10],
        "most_executed_workflows": [
            {"workflow": name, "executions": n, "failures": f}
            for name, (n, f) in sorted(per_workflow.items(), key=lambda i: (-i[1][0], i[0]))
        ][:10],
        "failure_reasons": reference_reasons(
            Counter(r.error for r in window if r.status == "FAILED")
        ),
    }


def reference_reasons(by_message: Counter[str | None], limit: int = 10) -> list[dict[str, Any]]:
    """The failure reasons as the read-time implementation defined them: each message
    normalised, the signatures ranked by failures, each with its most common message."""
    totals: Counter[str] = Counter()
    examples: dict[str, tuple[int, str]] = {}
    for error, count in by_message.items():
        message = error or ""
        signature = normalise_error(message) or "(no message)"
        totals[signature] += count
        if signature not in examples or (count, message) > examples[signature]:
            examples[signature] = (count, message)
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        {"signature": s, "failures": n, "transient": classify_error(examples[s][1]),
         "example": examples[s][1]}
        for s, n in ranked
    ]  # fmt: skip


def _document(db: Database, now: datetime) -> dict[str, Any]:
    document = statistics_document(collect_statistics(db, None, now=now, days=DAYS))
    return {key: document[key] for key in _reference([], now)}


def test_stats_equal_the_row_by_row_reference(history: tuple[Database, datetime]) -> None:
    db, now = history
    expected = _reference(_rows(db), now)
    assert _document(db, now) == expected
    reasons = expected["failure_reasons"]
    assert {"signature": "(no message)", "failures": 30, "transient": False, "example": ""} in (
        reasons
    )
    zeta = next(r for r in reasons if r["signature"] == normalise_error(EXTRA_FAILURES[0][0]))
    assert zeta["example"] == EXTRA_FAILURES[1][0]  # equal counts: the greater text


def test_unsigned_failures_count_as_if_signed(history: tuple[Database, datetime]) -> None:
    db, now = history
    signed = _document(db, now)
    with db.engine.connect() as conn:
        failed = conn.execute(sa.select(E.id).where(E.status == "FAILED").order_by(E.id)).scalars()
        unsigned = list(failed)[::2]
    with db.engine.begin() as conn:
        for start in range(0, len(unsigned), 500):
            part = unsigned[start : start + 500]
            conn.execute(sa.update(EXECUTION).where(E.id.in_(part)).values(error_signature=None))
    assert len(unsigned) > 50
    assert _document(db, now) == signed == _reference(_rows(db), now)


def test_a_signature_only_unsigned_rows_have_still_counts(
    history: tuple[Database, datetime],
) -> None:
    db, now = history
    quota = normalise_error(EXTRA_FAILURES[2][0])
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(EXECUTION).where(E.error_signature == quota).values(error_signature=None)
        )
    reasons = _document(db, now)["failure_reasons"]
    assert reasons == _reference(_rows(db), now)["failure_reasons"]
    assert any(r["signature"] == quota and r["failures"] == 25 for r in reasons)
