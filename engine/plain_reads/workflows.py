"""The workflow list: one summary row per workflow, by name, in pages of plain SQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.plain_reads.reader import Reader, json, utc

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


_SELECT = (
    "SELECT id, name, enabled, version, category, triggers, actions, execution_count,"
    " success_count, failure_count, last_execution_at, avg_execution_ms, paused_at,"
    " paused_until, max_concurrent, rate_limit, override_concurrent, override_rate,"
    " override_until FROM workflow"
)


def iter_workflows(
    reader: Reader, *, limit: int | None = None, after: str | None = None
) -> Iterator[WorkflowSummary]:
    """Workflows by name: every one, or ``limit`` of them, those named after ``after``,
    ``PAGE`` rows a query (names are unique, so the list resumes without gaps or
    repeats)."""
    left = limit
    while left is None or left > 0:
        size = PAGE if left is None else min(left, PAGE)
        where = "" if after is None else " WHERE name > :after"
        page = reader.rows(f"{_SELECT}{where} ORDER BY name LIMIT {size:d}", {"after": after})
        now = datetime.now(UTC)
        yield from (_summary(row, now) for row in page)
        if len(page) < size:
            return
        after = page[-1][1]
        if left is not None:
            left -= len(page)


def _summary(row: Sequence[Any], now: datetime) -> WorkflowSummary:
    (id_, name, enabled, version, category, triggers, actions, execution_count,
     success_count, failure_count, last_execution_at, avg_execution_ms, paused_at,
     paused_until, max_concurrent, rate_limit, override_concurrent, override_rate,
     override_until) = row  # fmt: skip
    until = utc(override_until)
    overridden = until is None or until > now
    concurrent = override_concurrent if overridden else None
    rate = override_rate if overridden else None
    return WorkflowSummary(
        id=id_,
        name=name,
        enabled=bool(enabled),
        version=version,
        category=category,
        trigger_types=tuple(t.get("type", "?") for t in json(triggers) or ()),
        action_count=len(json(actions) or ()),
        execution_count=execution_count,
        success_count=success_count,
        failure_count=failure_count,
        last_execution_at=utc(last_execution_at),
        avg_execution_ms=avg_execution_ms,
        paused_at=utc(paused_at),
        paused_until=utc(paused_until),
        max_concurrent=concurrent if concurrent is not None else max_concurrent,
        rate_limit=rate if rate is not None else rate_limit,
        override_until=until if overridden and (concurrent or rate) else None,
    )
