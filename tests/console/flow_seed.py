"""Seeds for the flow-control console tests: paused workflows with held runs, destinations
with figures, a run waiting for a held destination. Written with the engine's own
services (and, for fixed times in snapshots, one update of the stored row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.db import Database
from engine.execution import claims as store
from engine.models import Role, utcnow
from engine.outbound import holds
from engine.outbound.call_stats import MINUTES, CallStats, write_figures
from engine.services.destinations import hold
from engine.services.flow_control import pause
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow
from tests.console.helpers import set_role

E, W = store.E, store.W
WEBHOOK_FLOW = "hook-flow"
BUSY = "hooks.example.com"
SLOW = "api.slow.example:8443"
HELD = "held.example.com"


class NoQueue:
    """A queue that enqueues nothing: the runs stay PENDING where the test put them."""

    def dispatch(self, execution_id: str, delay: float | None = None) -> None:
        pass


def held_runs(db: Database, name: str, count: int) -> list[str]:
    """``count`` manual runs of ``name``, left PENDING (held while it is paused)."""
    return run_workflow(db, NoQueue(), name, {"n": 1}, actor="tester", count=count)


def paused_with_held(
    db: Database, name: str, held: int, *, at: datetime | None = None, by: str = "alice"
) -> list[str]:
    """Pause ``name`` (as ``by``) and add ``held`` runs; ``at`` pins the pause's time."""
    pause(db, name, actor="tester")
    with db.engine.begin() as conn:
        values: dict[str, Any] = {"paused_by": by}
        if at is not None:
            values["paused_at"] = at
        conn.execute(sa.update(store.WORKFLOWS).where(W.name == name).values(**values))
    return held_runs(db, name, held) if held else []


def statuses(db: Database, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """(status, error) of each run."""
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(E.id, E.status, E.error).where(E.id.in_(ids)))
        return {row.id: (row.status, row.error) for row in rows}


def seed_destinations(db: Database) -> None:
    """Three destinations: a busy one with errors and 429s, a slow one, a held one."""
    stats = CallStats()
    for index in range(40):
        stats.record(BUSY, 20.0 + index, error=index % 10 == 0)
    stats.record(BUSY, 15.0, error=True, rate_limited=True, retry_after=30.0)
    for latency in (900.0, 1200.0, 2500.0):
        stats.record(SLOW, latency, error=False)
    write_figures(db, "worker-a:1:x", stats.take_dirty())
    set_role(db, "tester", Role.SUPER_ADMIN.value)  # the first user, as the console makes it
    set_role(db, "alice", Role.OPERATOR.value)
    hold(db, HELD, actor="alice")


def waiting_for(db: Database, destination: str) -> str:
    """A run of ``WEBHOOK_FLOW`` handed back to wait for ``destination``."""
    if not _exists(db, WEBHOOK_FLOW):
        save_document(
            db,
            {"name": WEBHOOK_FLOW, "triggers": [{"type": "manual"}],
             "actions": [{"type": "webhook", "url": f"http://{destination}/hook"}]},
            actor="tester",
        )  # fmt: skip
    [execution_id] = held_runs(db, WEBHOOK_FLOW, 1)
    with db.engine.begin() as conn:
        conn.execute(sa.update(store.EXECUTIONS).where(E.id == execution_id).values(
            waiting="destination", waiting_for=destination,
            available_at=utcnow() + holds.WAIT_HORIZON))  # fmt: skip
    return execution_id


def waiting_state(db: Database, execution_id: str) -> tuple[str, str | None]:
    """(status, waiting) of one run."""
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(E.status, E.waiting).where(E.id == execution_id)).one()
        return row.status, row.waiting


def _exists(db: Database, name: str) -> bool:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(W.id).where(W.name == name)).first() is not None


def pinned_times(db: Database, at: datetime) -> None:
    """Every hold as if taken, and every Retry-After as if sent, at ``at`` (snapshots show
    both times)."""
    with db.engine.begin() as conn:
        conn.execute(sa.update(holds.STATES).values(held_at=at))
        conn.execute(
            sa.update(MINUTES)
            .where(MINUTES.c.last_retry_after_at.is_not(None))
            .values(last_retry_after_at=at)
        )
