"""The workflow list: one summary row per workflow, by name, read with Core.

Kept apart from ``workflows.py`` (saving, exporting), whose imports — the definition
schema, the vault, the ORM models — a command that only lists would pay for at start.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
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
            W.avg_execution_ms,
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
    )
