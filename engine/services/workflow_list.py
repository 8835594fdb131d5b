"""The workflow list: one summary row per workflow, by name, read with Core.

Kept apart from ``workflows.py`` (saving, exporting), whose imports — the definition
schema, the vault, the ORM models — a command that only lists would pay for at start.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from engine.core_tables import WORKFLOW
from engine.db import Database
from engine.plain_reads.reader import Reader
from engine.plain_reads.workflows import PAGE as PAGE
from engine.plain_reads.workflows import WorkflowSummary as WorkflowSummary
from engine.plain_reads.workflows import iter_workflows as plain_iter_workflows

W = WORKFLOW.c


def list_workflows(
    db: Database, *, limit: int | None = None, after: str | None = None
) -> list[WorkflowSummary]:
    """Workflows by name: every one, or ``limit`` of them, those named after ``after``."""
    return list(iter_workflows(db, limit=limit, after=after))


def iter_workflows(
    db: Database, *, limit: int | None = None, after: str | None = None
) -> Iterator[WorkflowSummary]:
    """Workflows by name, streamed ``PAGE`` rows a query (see
    ``engine.plain_reads.workflows.iter_workflows``: the CLI's plain read runs it too)."""
    with Reader.of_engine(db.read_engine) as reader:
        yield from plain_iter_workflows(reader, limit=limit, after=after)


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
