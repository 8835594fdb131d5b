"""What a bulk retry or cancel would do, before it is done: the operator's "blast radius".

A retry resumes each execution at its ``next_step`` (the executor never repeats a
finished step), so the actions it would run are the definition's actions from
``next_step`` on, in the version the execution was triggered with. A cancel stops a
PENDING execution before anything runs and a RUNNING one before its next step (the step
in progress still finishes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from engine.db import Database
from engine.execution.claims import E
from engine.models import ExecutionStatus, WorkflowVersion, table_of
from engine.services.control import RETRYABLE

MESSAGE_TYPES = frozenset({"email", "sms", "slack", "teams", "webhook"})
"""Action types that send something to the outside world (the rest create records)."""
CANCELLABLE = (ExecutionStatus.PENDING.value, ExecutionStatus.RUNNING.value)
CHUNK = 500  # ids per IN list: well below every driver's parameter limit
VERSIONS = table_of(WorkflowVersion)

BulkAction = Literal["retry", "cancel"]


@dataclass(frozen=True)
class BlastRadius:
    """What one bulk retry or cancel of ``requested`` executions would change.

    For a retry, ``actions`` counts the steps that would run again, by action type, and
    ``finished_steps`` the finished steps that will be kept and not run again. For a
    cancel, ``actions`` counts the steps that will no longer run, and ``finished_steps``
    the steps already done (kept as they are); ``running`` of the changed executions are
    RUNNING and stop only after the step in progress.
    """

    action: BulkAction
    requested: int
    ids: tuple[str, ...]
    """The executions that would change, in the order asked."""
    unchanged: dict[str, int] = field(default_factory=dict)
    """Executions that would not change, counted by status ("missing" when gone)."""
    actions: dict[str, int] = field(default_factory=dict)
    finished_steps: int = 0
    running: int = 0

    @property
    def changes(self) -> int:
        """How many executions would change."""
        return len(self.ids)

    @property
    def skipped(self) -> int:
        """How many of those asked for would be left as they are."""
        return sum(self.unchanged.values())

    @property
    def messages(self) -> int:
        """Steps in ``actions`` that send a message or call out (email, sms, chat, webhook)."""
        return sum(n for kind, n in self.actions.items() if kind in MESSAGE_TYPES)


def preview_retry(db: Database, ids: Sequence[str]) -> BlastRadius:
    """What ``retry_executions(ids)`` would do: only FAILED and CANCELLED runs change."""
    return _preview(db, "retry", ids, eligible=RETRYABLE)


def preview_cancel(db: Database, ids: Sequence[str]) -> BlastRadius:
    """What ``cancel_executions(ids)`` would do: only PENDING and RUNNING runs change."""
    return _preview(db, "cancel", ids, eligible=CANCELLABLE)


def _preview(
    db: Database, action: BulkAction, ids: Sequence[str], *, eligible: Sequence[str]
) -> BlastRadius:
    wanted = list(dict.fromkeys(ids))
    with db.read_engine.connect() as conn:
        rows = {
            row.id: row
            for chunk in _chunks(wanted)
            for row in conn.execute(
                sa.select(E.id, E.status, E.workflow_id, E.workflow_version, E.next_step).where(
                    E.id.in_(chunk)
                )
            )
        }
        changing = [rows[i] for i in wanted if i in rows and rows[i].status in eligible]
        actions = _action_types(conn, {(r.workflow_id, r.workflow_version) for r in changing})
    unchanged: Counter[str] = Counter(
        rows[i].status if i in rows else "missing"
        for i in wanted
        if i not in rows or rows[i].status not in eligible
    )
    per_type: Counter[str] = Counter()
    finished = running = 0
    for row in changing:
        types = actions.get((row.workflow_id, row.workflow_version), [])
        first = row.next_step
        if row.status == ExecutionStatus.RUNNING.value:
            running += 1
            first += 1  # the step in progress finishes; the ones after it do not run
        per_type.update(types[first:])
        finished += min(row.next_step, len(types))
    return BlastRadius(
        action=action,
        requested=len(wanted),
        ids=tuple(r.id for r in changing),
        unchanged=dict(sorted(unchanged.items())),
        actions=dict(sorted(per_type.items(), key=lambda item: (-item[1], item[0]))),
        finished_steps=finished,
        running=running,
    )


def _action_types(
    conn: sa.Connection, versions: set[tuple[str, int]]
) -> dict[tuple[str, int], list[str]]:
    """The action types, in order, of each (workflow id, version) definition."""
    found: dict[tuple[str, int], list[str]] = {}
    for workflow_id in {w for w, _ in versions}:
        numbers = [v for w, v in versions if w == workflow_id]
        for row in conn.execute(
            sa.select(VERSIONS.c.version, VERSIONS.c.definition).where(
                VERSIONS.c.workflow_id == workflow_id, VERSIONS.c.version.in_(numbers)
            )
        ):
            found[(workflow_id, row.version)] = _types(row.definition)
    return found


def _types(definition: dict[str, Any]) -> list[str]:
    return [str(action.get("type", "?")) for action in definition.get("actions") or []]


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
