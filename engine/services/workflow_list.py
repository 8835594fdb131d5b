"""The workflow list: one summary row per workflow, by name, read with Core.

Kept apart from ``workflows.py`` (saving, exporting), whose imports — the definition
schema, the vault, the ORM models — a command that only lists would pay for at start.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from engine.core_tables import WORKFLOW
from engine.db import Database

W = WORKFLOW.c
PAGE = 500
"""Rows read per query when streaming the list."""


@dataclass(frozen=True)
class WorkflowSummary:
    """One row of the workflow list."""

    id: str
    name: str
    enabled: bool
    version: int
    category: str | None
    trigger_types: tuple[str, ...]
    action_count: int
    execution_count: int
    success_count: int
    failure_count: int
    last_execution_at: datetime | None
    avg_execution_ms: float | None
    paused_at: datetime | None = None
    paused_until: datetime | None = None
    max_concurrent: int | None = None
    """The concurrency limit in force: the operator's override, else the definition's."""
    rate_limit: str | None = None
    """The rate limit in force (``N/s``, ``N/m``): the override, else the definition's."""
    override_until: datetime | None = None

    @property
    def flow_state(self) -> str | None:
        """``paused``, ``limited`` or None: what the list shows beside ``enabled``."""
        if self.paused_at is not None:
            return "paused"
        if self.max_concurrent is not None or self.rate_limit is not None:
            return "limited"
        return None

    @property
    def success_rate(self) -> float | None:
        """Share of finished runs that succeeded, or None before the first run."""
        finished = self.success_count + self.failure_count
        return self.success_count / finished if finished else None


def list_workflows(
    db: Database, *, limit: int | None = None, after: str | None = None
) -> list[WorkflowSummary]:
    """Workflows by name: every one, or ``limit`` of them, those named after ``after``."""
    return list(iter_workflows(db, limit=limit, after=after))


def iter_workflows(
    db: Database, *, limit: int | None = None, after: str | None = None
) -> Iterator[WorkflowSummary]:
    """Workflows by name, streamed ``PAGE`` rows a query; ``after`` is the last name of a
    previous page (names are unique, so the list resumes without gaps or repeats)."""
    left = limit
    while left is None or left > 0:
        size = PAGE if left is None else min(left, PAGE)
        query = sa.select(
            W.id, W.name, W.enabled, W.version, W.category, W.triggers, W.actions,
            W.execution_count, W.success_count, W.failure_count, W.last_execution_at,
            W.avg_execution_ms, W.paused_at, W.paused_until, W.max_concurrent, W.rate_limit,
            W.override_concurrent, W.override_rate, W.override_until,
        ).order_by(W.name).limit(size)  # fmt: skip
        if after is not None:
            query = query.where(W.name > after)
        with db.read_engine.connect() as conn:
            page = [_summary(row) for row in conn.execute(query)]
        yield from page
        if len(page) < size:
            return
        after = page[-1].name
        if left is not None:
            left -= len(page)


def _summary(row: Any) -> WorkflowSummary:
    m = row._mapping
    until = m["override_until"]
    overridden = until is None or until > datetime.now(UTC)
    concurrent = m["override_concurrent"] if overridden else None
    rate = m["override_rate"] if overridden else None
    return WorkflowSummary(
        id=m["id"],
        name=m["name"],
        enabled=bool(m["enabled"]),
        version=m["version"],
        category=m["category"],
        trigger_types=tuple(t.get("type", "?") for t in m["triggers"] or ()),
        action_count=len(m["actions"] or ()),
        execution_count=m["execution_count"],
        success_count=m["success_count"],
        failure_count=m["failure_count"],
        last_execution_at=m["last_execution_at"],
        avg_execution_ms=m["avg_execution_ms"],
        paused_at=m["paused_at"],
        paused_until=m["paused_until"],
        max_concurrent=concurrent if concurrent is not None else m["max_concurrent"],
        rate_limit=rate if rate is not None else m["rate_limit"],
        override_until=until if overridden and (concurrent or rate) else None,
    )


@dataclass(frozen=True)
class FlowState:
    """One workflow's flow control at a glance (``/metrics``, the dashboard's banner)."""

    workflow: str
    paused: bool
    gated: bool  # paused or limited: its runs go through the gated claim


def flow_states(db: Database) -> list[FlowState]:
    """Every workflow's pause state, by name (one small read of the workflow table)."""
    query = sa.select(W.name, W.paused_at, W.flow_gated).order_by(W.name)
    with db.read_engine.connect() as conn:
        return [FlowState(row.name, row.paused_at is not None, bool(row.flow_gated))
                for row in conn.execute(query)]  # fmt: skip


def paused_workflow_names(db: Database) -> list[str]:
    """The names of the paused workflows (the dashboard's banner)."""
    query = sa.select(W.name).where(W.paused_at.is_not(None)).order_by(W.name)
    with db.read_engine.connect() as conn:
        return list(conn.execute(query).scalars())
