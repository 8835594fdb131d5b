"""Demo data: the sample workflows plus a week of past executions, bulk-inserted fast.

Executions go in with COPY on PostgreSQL and batched executemany on SQLite, in one
transaction, every one in a final state (so no worker ever picks them up). Running it
again upserts the workflows (unchanged, same version) and adds another set of executions;
the workflow counters are incremented by what was added, so they keep matching the
executions table.
"""

from __future__ import annotations

import random
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.db import Database
from engine.definition import validate_definition
from engine.demo_history import Clock, Row, WorkflowPlan, build_plans
from engine.demo_workflows import PAUSED_DAYS, demo_documents
from engine.services.workflows import save_definitions

CHUNK = 50_000
SPAN_DAYS = 7
STATUS_MIX = (("SUCCESS", 0.81), ("SKIPPED", 0.07), ("FAILED", 0.10), ("CANCELLED", 0.02))

EXECUTION_COLUMNS = (
    "id", "workflow_id", "workflow_version", "status", "trigger_type", "trigger_data",
    "result", "error", "created_at", "started_at", "completed_at", "duration_ms",
    "retry_count", "available_at", "worker_id", "next_step", "cancel_requested", "event_depth",
)  # fmt: skip
STEP_COLUMNS = (
    "execution_id", "step_index", "action_type", "status", "result", "error", "attempt",
    "started_at", "completed_at", "duration_ms",
)  # fmt: skip
LOG_COLUMNS = ("execution_id", "level", "message", "data", "step_index", "timestamp")

Progress = Callable[[int, int], None]
Chunk = tuple[list[Row], list[Row], list[Row]]  # executions, steps, logs


@dataclass(frozen=True)
class DemoSummary:
    """What seed_demo stored."""

    workflows: int
    executions: int
    steps: int
    logs: int
    by_status: dict[str, int]
    seconds: float


def uuid7_at(when: datetime, rng: random.Random) -> str:
    """A UUIDv7 for the instant ``when``: sorts with ids that ``new_id`` made at that time."""
    return _uuid7(round(when.timestamp() * 1_000_000), rng.getrandbits(62))


def _uuid7(micros: int, rand62: int) -> str:
    # 48-bit unix millis, version 7, 12 bits of sub-millisecond time (RFC 9562 method 3,
    # so ids keep created_at order within a millisecond), variant 10, 62 random bits.
    millis, sub = divmod(micros, 1000)
    value = (millis << 80) | (0x7 << 76) | ((sub * 4096 // 1000) << 64) | (0b10 << 62) | rand62
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Picker:
    """Weighted choice by one random() and a bisect: fast enough for millions of picks."""

    def __init__(self, weights: list[float]) -> None:
        total, acc = sum(weights), 0.0
        self.bounds: list[float] = []
        for weight in weights:
            acc += weight / total
            self.bounds.append(acc)

    def pick(self, rng: random.Random) -> int:
        """The index of the chosen weight."""
        return min(bisect_right(self.bounds, rng.random()), len(self.bounds) - 1)


@dataclass
class _Tally:
    """What was inserted for one workflow, for its counters."""

    total: int = 0
    success: int = 0
    failed: int = 0
    duration_sum: float = 0.0
    last_micros: int = 0


@dataclass
class _History:
    """Generates the executions chunk by chunk and keeps count of what it made."""

    plans: list[WorkflowPlan]
    rng: random.Random
    clock: Clock
    tallies: dict[str, _Tally] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(dict(STATUS_MIX), 0))
    steps: int = 0
    logs: int = 0

    def chunks(self, total: int) -> Iterator[Chunk]:
        """Rows of every table, CHUNK executions at a time, oldest first."""
        rng, plans = self.rng, self.plans
        horizon = int(time.time() * 1_000_000)
        now = horizon - 600_000_000  # leaves room for the last runs to finish by ``horizon``
        span = SPAN_DAYS * 86_400_000_000
        paused_at = now - PAUSED_DAYS * 86_400_000_000
        created = sorted(now - int(rng.random() * span) for _ in range(total))
        any_plan = _Picker([p.weight for p in plans])
        enabled = [p for p in plans if p.enabled]
        enabled_plan = _Picker([p.weight for p in enabled])
        status_of = _Picker([weight for _, weight in STATUS_MIX])
        for start in range(0, total, CHUNK):
            self.clock.seconds.clear()
            executions: list[Row] = []
            steps: list[Row] = []
            logs: list[Row] = []
            for micros in created[start : start + CHUNK]:
                plan = plans[any_plan.pick(rng)]
                if not plan.enabled and micros > paused_at:
                    plan = enabled[enabled_plan.pick(rng)]
                status = STATUS_MIX[status_of.pick(rng)][0]
                if status == "SKIPPED" and not plan.skip_payloads:
                    status = "SUCCESS"
                execution_id = _uuid7(micros, rng.getrandbits(62))
                row, end, duration = plan.execution(
                    execution_id, status, micros, horizon, rng, self.clock, steps, logs
                )
                executions.append(row)
                self._count(plan.workflow_id, status, end, duration)
            self.steps += len(steps)
            self.logs += len(logs)
            yield executions, steps, logs

    def _count(self, workflow_id: str, status: str, end: int, duration: float | None) -> None:
        tally = self.tallies.get(workflow_id)
        if tally is None:
            tally = self.tallies[workflow_id] = _Tally()
        tally.total += 1
        tally.last_micros = max(tally.last_micros, end)
        self.by_status[status] += 1
        if status == "SUCCESS" and duration is not None:
            tally.success += 1
            tally.duration_sum += duration
        elif status == "FAILED" and duration is not None:
            tally.failed += 1
            tally.duration_sum += duration


def seed_demo(
    db: Database,
    *,
    executions: int = 300,
    actor: str,
    seed: int = 1,
    progress: Progress | None = None,
) -> DemoSummary:
    """Save the sample workflows and insert ``executions`` finished runs of the past week.

    Deterministic for a given ``seed`` (up to the current time); ``progress(done, total)``
    is called after every chunk of executions.
    """
    if executions < 0:
        raise ValueError("executions must be >= 0")
    started = time.perf_counter()
    definitions = [validate_definition(doc) for doc in demo_documents()]
    save_definitions(db, definitions, actor=actor)
    rng = random.Random(seed)  # noqa: S311  (demo data, not secrets)
    history = _History(build_plans(db, rng), rng, Clock("" if db.is_sqlite else "+00"))
    writer = _write_sqlite if db.is_sqlite else _write_postgres
    writer(db, history, executions, progress)
    return DemoSummary(
        workflows=len(history.plans),
        executions=executions,
        steps=history.steps,
        logs=history.logs,
        by_status=dict(history.by_status),
        seconds=time.perf_counter() - started,
    )


_COUNTER_UPDATE = (
    "UPDATE workflow SET"
    " avg_execution_ms = (COALESCE(avg_execution_ms, 0) * (success_count + failure_count)"
    " + {p}) / NULLIF(success_count + failure_count + {p}, 0),"
    " execution_count = execution_count + {p},"
    " success_count = success_count + {p},"
    " failure_count = failure_count + {p},"
    " last_execution_at = CASE WHEN last_execution_at IS NULL OR last_execution_at < {p}"
    " THEN {p} ELSE last_execution_at END"
    " WHERE id = {p}"
)


def _counter_rows(history: _History) -> list[Row]:
    rows = []
    for workflow_id, t in history.tallies.items():
        last = history.clock.text(t.last_micros)
        finished = t.success + t.failed
        rows.append(
            (t.duration_sum, finished, t.total, t.success, t.failed, last, last, workflow_id)
        )
    return rows


def _tables(chunk: Chunk) -> list[tuple[str, tuple[str, ...], list[Row]]]:
    executions, steps, logs = chunk
    return [
        ("workflow_execution", EXECUTION_COLUMNS, executions),
        ("workflow_execution_step", STEP_COLUMNS, steps),
        ("workflow_execution_log", LOG_COLUMNS, logs),
    ]


def _write_postgres(
    db: Database,
    history: _History,
    total: int,
    progress: Progress | None,
) -> None:
    raw = db.engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        done = 0
        with conn.cursor() as cursor:
            for chunk in history.chunks(total):
                for table, columns, rows in _tables(chunk):
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                done += len(chunk[0])
                if progress is not None:
                    progress(done, total)
            cursor.executemany(_COUNTER_UPDATE.format(p="%s"), _counter_rows(history))
        conn.commit()
        if total:
            conn.autocommit = True
            with conn.cursor() as cursor:
                for table in ("workflow_execution", "workflow_execution_step",
                              "workflow_execution_log"):  # fmt: skip
                    cursor.execute(f"ANALYZE {table}")
            conn.autocommit = False
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()


def _write_sqlite(
    db: Database,
    history: _History,
    total: int,
    progress: Progress | None,
) -> None:
    raw = db.engine.raw_connection()
    conn: Any = raw.driver_connection
    try:
        conn.execute("BEGIN IMMEDIATE")
        done = 0
        for chunk in history.chunks(total):
            for table, columns, rows in _tables(chunk):
                marks = ", ".join("?" for _ in columns)
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
                )
            done += len(chunk[0])
            if progress is not None:
                progress(done, total)
        conn.executemany(_COUNTER_UPDATE.format(p="?"), _counter_rows(history))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        raw.close()
