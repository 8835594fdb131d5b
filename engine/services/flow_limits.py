"""Per-workflow limits: the operator's override of ``max_concurrent`` and ``rate_limit``.

The definition's limits are copied to the workflow row on every save; an operator can
override them (``workflow limit NAME --concurrency N --rate N/s --for 1h``) until an
expiry or until cleared. An override is one whole: a new one replaces the last, what it
does not name is the definition's, and its ``--for`` is its own. Needs ADMIN; every
change writes an audit row (an expiry too, as the worker). Runs a limit holds show
``waiting: "limit"``; when a limit is changed or cleared they are looked at again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from engine.access.roles import Permission
from engine.db import Database
from engine.definitions.durations import parse_rate
from engine.execution.claims import EXECUTIONS, WORKFLOWS, E, W
from engine.execution.gated_claims import LIMIT, clear_override, effective_limits
from engine.models import ExecutionStatus, utcnow
from engine.services.flow_control import (
    WORKER_ACTOR,
    FlowControlError,
    audit_workflow_change,
    authorize_in,
    duration_argument,
    workflow_row,
)
from engine.triggers.new_executions import Dispatcher, dispatch_all

MAX_CONCURRENCY = 100_000
_DIGITS = re.compile(r"[0-9]{1,30}")


@dataclass(frozen=True)
class LimitState:
    """A workflow's limits: in force, from its definition, and the operator's override."""

    workflow: str
    concurrency: int | None
    rate: str | None
    definition_concurrency: int | None
    definition_rate: str | None
    override_concurrency: int | None
    override_rate: str | None
    override_until: datetime | None
    override_by: str | None
    held: int  # PENDING runs a limit holds (``waiting: "limit"``)

    def as_json(self, when: Callable[[datetime | None], str | None]) -> dict[str, Any]:
        """The JSON of ``workflow limit --json`` and the REST API; ``when`` writes the
        expiry in the surface's own timestamp form."""
        return {
            "workflow": self.workflow, "concurrency": self.concurrency, "rate": self.rate,
            "definition": {"max_concurrent": self.definition_concurrency,
                           "rate_limit": self.definition_rate},
            "override": {"concurrency": self.override_concurrency, "rate": self.override_rate,
                         "until": when(self.override_until), "by": self.override_by},
            "held": self.held,
        }  # fmt: skip


def _state(conn: sa.Connection, row: Any, now: datetime) -> LimitState:
    limits = effective_limits(row, now)
    expired = limits.override_expired
    held = conn.execute(
        sa.select(sa.func.count()).where(
            E.workflow_id == row.id, E.status == ExecutionStatus.PENDING.value, E.waiting == LIMIT
        )
    ).scalar_one()
    return LimitState(
        row.name, limits.concurrency, limits.rate, row.max_concurrent, row.rate_limit,
        None if expired else row.override_concurrent, None if expired else row.override_rate,
        None if expired else row.override_until, None if expired else row.override_by,
        int(held),
    )  # fmt: skip


def limit_state(db: Database, name: str) -> LimitState:
    """The workflow's limits as a claim sees them now."""
    with db.read_engine.connect() as conn:
        return _state(conn, workflow_row(conn, name, lock=False), utcnow())


def check_concurrency(value: object) -> int:
    """A concurrency argument: a whole number 1..100000 (FlowControlError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FlowControlError("concurrency: expected a whole number ≥ 1")
    if isinstance(value, str) and _DIGITS.fullmatch(value) is None:
        raise FlowControlError(f"concurrency: {value[:40]!r} is not a whole number")
    number = int(value)
    if not 1 <= number <= MAX_CONCURRENCY:
        raise FlowControlError(f"concurrency: must be between 1 and {MAX_CONCURRENCY}")
    return number


def check_rate(value: object) -> str:
    """A rate argument: ``N/s`` or ``N/m`` (FlowControlError otherwise)."""
    try:
        parse_rate(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise FlowControlError(f"rate: {exc}") from None
    return str(value)


def set_limit(
    db: Database,
    name: str,
    *,
    actor: str,
    concurrency: int | str | None = None,
    rate: str | None = None,
    for_: str | timedelta | None = None,
    queue: Dispatcher | None = None,
) -> LimitState:
    """Override the workflow's concurrency and/or rate limit (until ``for_`` is up).

    Replaces any earlier override: a limit not given here is the definition's.
    """
    if concurrency is None and rate is None:
        raise FlowControlError("limit: give a concurrency, a rate, or both")
    concurrent = check_concurrency(concurrency) if concurrency is not None else None
    per = check_rate(rate) if rate is not None else None
    duration = duration_argument(for_, "for")
    now = utcnow()
    until = now + duration if duration is not None else None
    with db.engine.begin() as conn:
        authorize_in(conn, actor, Permission.EDIT)
        row = workflow_row(conn, name, lock=True)
        if effective_limits(row, now).override_expired:
            clear_override(conn, row.id)
            row = workflow_row(conn, name, lock=True)
        # The whole override: a limit this call does not name is the definition's again
        # (its expiry was the last override's, not this one's).
        values: dict[str, object] = {
            "override_concurrent": concurrent,
            "override_rate": per,
            "override_until": until,
            "override_by": actor,
            "flow_gated": True,
        }
        conn.execute(sa.update(WORKFLOWS).where(W.id == row.id).values(**values))
        audit_workflow_change(conn, actor, "workflow.limit", row, concurrency=concurrent, rate=per,
               until=until and until.isoformat())  # fmt: skip
        state = _state(conn, workflow_row(conn, name, lock=False), now)
        waiting = _release_held(conn, row.id)
    if queue is not None and waiting:
        dispatch_all(queue, waiting)
    return state


def clear_limit(
    db: Database, name: str, *, actor: str, queue: Dispatcher | None = None
) -> LimitState:
    """Drop the operator's override: the definition's limits (if any) apply again."""
    now = utcnow()
    with db.engine.begin() as conn:
        authorize_in(conn, actor, Permission.EDIT)
        row = workflow_row(conn, name, lock=True)
        clear_override(conn, row.id)
        audit_workflow_change(conn, actor, "workflow.limit.clear", row)
        state = _state(conn, workflow_row(conn, name, lock=False), now)
        waiting = _release_held(conn, row.id)
    if queue is not None and waiting:
        dispatch_all(queue, waiting)
    return state


def _release_held(conn: sa.Connection, workflow_id: str) -> list[str]:
    """The runs a limit held, unmarked: the caller enqueues them (the new limit decides)."""
    return list(
        conn.execute(
            sa.update(EXECUTIONS)
            .where(E.workflow_id == workflow_id, E.status == ExecutionStatus.PENDING.value,
                   E.waiting == LIMIT)
            .values(waiting=None)
            .returning(E.id)
        ).scalars()
    )  # fmt: skip


def expire_overrides(db: Database, now: datetime, queue: Dispatcher | None = None) -> int:
    """Drop overrides whose time is up (audited as the worker) and enqueue the runs they
    held; how many expired."""
    with db.read_engine.connect() as conn:
        ids = list(conn.execute(sa.select(W.id).where(W.override_until <= now)).scalars())
    for workflow_id in ids:
        with db.engine.begin() as conn:
            expired = conn.execute(
                sa.select(W.id, W.name, W.override_concurrent, W.override_rate).where(
                    W.id == workflow_id, W.override_until <= now
                )
            ).first()
            if expired is None:
                continue
            clear_override(conn, workflow_id)
            audit_workflow_change(
                conn, WORKER_ACTOR, "workflow.limit.expire", expired,
                concurrency=expired.override_concurrent, rate=expired.override_rate,
            )  # fmt: skip
            waiting = _release_held(conn, workflow_id)
        if queue is not None and waiting:
            dispatch_all(queue, waiting)
    return len(ids)
