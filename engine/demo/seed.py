"""Demo data: the sample workflows plus a week of past executions, inserted fast.

How it stays fast at a million executions: Python draws a few thousand execution
*shapes* (an execution with its steps and logs, times relative to its creation; see
``engine.demo.history``) and, per execution, only an id, a shape and a creation time.
Those go into temporary staging tables (COPY on PostgreSQL, executemany on SQLite) and
the database stamps out the real rows with ``INSERT … SELECT``, in chunks, all in one
transaction. Every execution is in a final state, so no worker ever picks one up.

Running it again upserts the workflows (unchanged, same version) and adds another set
of executions; the workflow counters are incremented by what was added, so they keep
matching the executions table. Seeding needs ADMIN and, without ``force``, a database
that holds no workflows but the samples: it is for trying wfconsole out, not for a
database in use.
"""

from __future__ import annotations

import random
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, func, select

from engine.access.audit import audit_change, authorize
from engine.access.roles import Permission
from engine.db import Database, session_scope
from engine.definitions.schema import WorkflowDefinition, validate_definition
from engine.demo.bulk import CounterUpdate, writer_for
from engine.demo.history import STATUSES, Shapes, WorkflowPlan, build_plans
from engine.demo.workflows import PAUSED_DAYS, demo_documents
from engine.models import Workflow
from engine.services.workflows import save_definition_in

SEED_ACTION = "demo.seed"
CHUNK = 50_000
SPAN_DAYS = 7
STATUS_MIX = {"SUCCESS": 0.81, "SKIPPED": 0.07, "FAILED": 0.10, "CANCELLED": 0.02}
SHAPES_PER_STATUS = 128
_DAY = 86_400_000_000
_QUICK = 300_000_000  # shapes that end within 5 minutes fit the newest executions

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DemoSummary:
    """What seed_demo stored."""

    workflows: int
    executions: int
    steps: int
    logs: int
    by_status: dict[str, int]
    seconds: float

    @property
    def rows(self) -> int:
        """Execution, step and log rows together."""
        return self.executions + self.steps + self.logs


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


class _History:
    """Draws the shapes, then the executions that use them, and counts what it drew."""

    def __init__(self, plans: list[WorkflowPlan], rng: random.Random) -> None:
        self.plans, self.rng = plans, rng
        self.shapes = Shapes()
        # (plan, status) -> (every shape, the quick ones, how late the slowest one ends)
        self.pools: dict[tuple[int, str], tuple[list[int], list[int], int]] = {}
        for index, plan in enumerate(plans):
            for status in STATUSES:
                if status != "SKIPPED" or plan.skip_payloads:
                    self.pools[index, status] = self._pool(plan, status)
        self.uses = [0] * len(self.shapes.rows)
        self.last = [0] * len(plans)

    def _pool(self, plan: WorkflowPlan, status: str) -> tuple[list[int], list[int], int]:
        every = [plan.shape(self.shapes, status, self.rng) for _ in range(SHAPES_PER_STATUS)]
        quick = [n for n in every if self.shapes.outcomes[n][0] < _QUICK]
        while not quick:  # a shape without retry waits, for executions of the last minutes
            number = plan.shape(self.shapes, status, self.rng)
            if self.shapes.outcomes[number][0] < _QUICK:
                quick.append(number)
        return every, quick, max(self.shapes.outcomes[n][0] for n in every)

    def runs(self, total: int) -> Iterator[list[tuple[int, str, int, int]]]:
        """(seq, id, shape, created µs) of every execution, oldest first, CHUNK at a time."""
        rng, plans, outcomes = self.rng, self.plans, self.shapes.outcomes
        horizon = int(time.time() * 1_000_000)
        newest = horizon - 2 * _QUICK
        paused_at = newest - PAUSED_DAYS * _DAY
        created = sorted(newest - int(rng.random() * SPAN_DAYS * _DAY) for _ in range(total))
        any_plan = _Picker([p.weight for p in plans])
        enabled = [i for i, p in enumerate(plans) if p.enabled]
        enabled_plan = _Picker([plans[i].weight for i in enabled])
        statuses = list(STATUS_MIX)
        status_of = _Picker(list(STATUS_MIX.values()))
        for start in range(0, total, CHUNK):
            chunk = []
            for seq in range(start, min(start + CHUNK, total)):
                micros = created[seq]
                index = any_plan.pick(rng)
                if not plans[index].enabled and micros > paused_at:
                    index = enabled[enabled_plan.pick(rng)]
                pool = self.pools.get((index, statuses[status_of.pick(rng)]))
                if pool is None:  # no payload fails this workflow's conditions
                    pool = self.pools[index, "SUCCESS"]
                every, quick, slowest = pool
                shapes = every if micros + slowest < horizon else quick
                shape = shapes[int(rng.random() * len(shapes))]
                self.uses[shape] += 1
                self.last[index] = max(self.last[index], micros + outcomes[shape][0])
                chunk.append((seq, _uuid7(micros, rng.getrandbits(62)), shape, micros))
            yield chunk

    def counters(self) -> list[CounterUpdate]:
        """How much each workflow's counters grow by what was drawn."""
        totals = {i: CounterUpdate(p.workflow_id) for i, p in enumerate(self.plans)}
        plan_of = {p.workflow_id: i for i, p in enumerate(self.plans)}
        for number, row in enumerate(self.shapes.rows):
            uses = self.uses[number]
            if not uses:
                continue
            update = totals[plan_of[row[1]]]
            status, duration = row[3], self.shapes.outcomes[number][1]
            update.executions += uses
            update.success += uses if status == "SUCCESS" else 0
            update.failed += uses if status == "FAILED" else 0
            update.duration_sum += uses * (duration or 0.0)
        for index, update in totals.items():
            update.last_micros = self.last[index]
        return [u for u in totals.values() if u.executions]

    def rows_per_table(self) -> tuple[int, int]:
        """How many step and log rows the drawn executions have."""
        steps = logs = 0
        for row in self.shapes.steps:
            steps += self.uses[row[0]]
        for row in self.shapes.logs:
            logs += self.uses[row[0]]
        return steps, logs

    def by_status(self) -> dict[str, int]:
        """How many executions of each status were drawn."""
        counts = dict.fromkeys(STATUS_MIX, 0)
        for number, row in enumerate(self.shapes.rows):
            counts[row[3]] += self.uses[number]
        return counts


class DemoRefused(Exception):
    """The database holds workflows of its own: seeding it needs ``force``."""


def _save_samples(
    db: Database, definitions: list[WorkflowDefinition], *, actor: str, force: bool
) -> None:
    """Check the role and the database, then save the samples: one transaction."""
    names = [definition.name for definition in definitions]
    with session_scope(db) as session:
        authorize(session, actor, Permission.EDIT)
        others = session.exec(
            select(func.count()).select_from(Workflow).where(col(Workflow.name).not_in(names))
        ).one()
        if others and not force:
            raise DemoRefused(
                f"the database already holds {others} workflow(s) besides the demo ones; "
                "add --force to load the samples anyway"
            )
        for definition in definitions:
            save_definition_in(session, definition, actor=actor, vault=db.vault)


def seed_demo(
    db: Database,
    *,
    executions: int = 300,
    actor: str,
    seed: int = 1,
    progress: Progress | None = None,
    force: bool = False,
) -> DemoSummary:
    """Save the sample workflows and add ``executions`` finished runs of the past week.

    Needs ``Permission.EDIT``, as ``workflow import`` (the first user of an empty
    database is SUPER_ADMIN, so a fresh one can always be seeded), and refuses a database
    holding workflows other than the samples unless ``force``: seeding resets samples of
    the same name and adds made-up runs. Checked before anything is written; audited.
    Deterministic for a given ``seed`` (relative to the current time); ``progress(done,
    total)`` is called after every chunk of executions.
    """
    if executions < 0:
        raise ValueError("executions must be >= 0")
    started = time.perf_counter()
    definitions = [validate_definition(doc) for doc in demo_documents()]
    _save_samples(db, definitions, actor=actor, force=force)
    rng = random.Random(seed)  # noqa: S311  (demo data, not secrets)
    history = _History(build_plans(db, rng), rng)
    if executions:
        with writer_for(db, executions=executions) as writer:
            writer.load_shapes(history.shapes)
            done = [0]

            def chunk_done(count: int) -> None:
                done[0] += count
                if progress is not None:
                    progress(done[0], executions)

            writer.insert_runs(history.runs(executions), chunk_done)
            writer.update_counters(history.counters())
    steps, logs = history.rows_per_table()
    audit_change(db, actor=actor, action=SEED_ACTION, target_type="database",
                 details={"workflows": len(definitions), "executions": executions})  # fmt: skip
    return DemoSummary(
        workflows=len(history.plans),
        executions=executions,
        steps=steps,
        logs=logs,
        by_status=history.by_status(),
        seconds=time.perf_counter() - started,
    )
