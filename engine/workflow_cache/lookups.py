"""What triggers look up about the current workflows, through the workflow cache.

A workflow by name (manual runs), the enabled workflows on a webhook path (every accepted
webhook) and the enabled listeners of an event. Each is read by one indexed query on a
miss; ``Database.workflow_cache`` (engine/workflow_cache/cache.py) keeps the answers. A
trigger whose insert found the workflow changed since (engine/triggers/versioned_inserts.py)
asks again without the cache: ``fresh_workflow``, ``load_listeners``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.models import Workflow, WorkflowTrigger, table_of
from engine.workflow_cache.cache import Lookup

if TYPE_CHECKING:
    from engine.db import Database

W = table_of(Workflow).c
T = table_of(WorkflowTrigger).c


class WorkflowNotFound(LookupError):
    """No workflow has that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no workflow named {name!r}")


@dataclass(frozen=True)
class WorkflowRef:
    """The current version of one workflow and whether it is enabled."""

    id: str
    version: int
    enabled: bool


@dataclass(frozen=True)
class Hook:
    """One enabled workflow's webhook trigger on a path."""

    workflow_id: str
    version: int
    secret: str | None
    """As written in the definition: a literal or a ``${NAME}`` reference."""


def _load_workflow(conn: sa.Connection, name: str) -> Any:
    row = conn.execute(sa.select(W.id, W.version, W.enabled).where(W.name == name)).first()
    return None if row is None else [row.id, row.version, bool(row.enabled)]


def _load_hooks(conn: sa.Connection, path: str) -> Any:
    rows = conn.execute(
        sa.select(W.id, W.version, W.triggers)
        .join_from(table_of(WorkflowTrigger), table_of(Workflow), W.id == T.workflow_id)
        .where(T.type == "webhook", T.key == path, W.enabled.is_(True))
        .order_by(W.id)
    ).all()
    hooks: dict[str, list[Any]] = {}
    for workflow_id, version, triggers in rows:
        for trigger in triggers:
            if trigger.get("type") == "webhook" and trigger.get("path") == path:
                hooks.setdefault(workflow_id, [workflow_id, version, trigger.get("secret")])
                break
    return list(hooks.values())


def _load_listeners(conn: sa.Connection, event: str) -> Any:
    rows = conn.execute(
        sa.select(W.id, W.version)
        .join_from(table_of(WorkflowTrigger), table_of(Workflow), W.id == T.workflow_id)
        .where(T.type == "event", T.key == event, W.enabled.is_(True))
        .distinct()
        .order_by(W.id)
    ).all()
    return [[workflow_id, version] for workflow_id, version in rows]


def _workflow_ref(raw: Any) -> WorkflowRef | None:
    return None if raw is None else WorkflowRef(str(raw[0]), int(raw[1]), bool(raw[2]))


def _hooks(raw: Sequence[Any]) -> tuple[Hook, ...]:
    return tuple(Hook(str(row[0]), int(row[1]), row[2]) for row in raw)


def _listeners(raw: Sequence[Any]) -> tuple[WorkflowRef, ...]:
    return tuple(WorkflowRef(str(row[0]), int(row[1]), True) for row in raw)


WORKFLOW = Lookup("workflow", _load_workflow, _workflow_ref)
HOOKS = Lookup("hooks", _load_hooks, _hooks)
LISTENERS = Lookup("listeners", _load_listeners, _listeners)


def find_workflow(db: Database, name: str) -> WorkflowRef | None:
    """The workflow named ``name`` as it is now, or None."""
    ref: WorkflowRef | None = db.workflow_cache.lookup(db, WORKFLOW, name)
    return ref


def webhook_hooks(db: Database, path: str, *, generation: int | None = None) -> tuple[Hook, ...]:
    """Every enabled workflow's webhook trigger on ``path`` (``generation``: the cache's
    number as read for a group of requests, see ``WorkflowCache.generation``)."""
    hooks: tuple[Hook, ...] = db.workflow_cache.lookup(db, HOOKS, path, generation=generation)
    return hooks


def event_listeners(db: Database, event: str) -> tuple[WorkflowRef, ...]:
    """Every enabled workflow listening for ``event``."""
    listeners: tuple[WorkflowRef, ...] = db.workflow_cache.lookup(db, LISTENERS, event)
    return listeners


def fresh_workflow(db: Database, name: str) -> WorkflowRef | None:
    """The workflow named ``name`` as the primary has it now, bypassing the cache."""
    with db.primary_read_engine.connect() as conn:
        return _workflow_ref(_load_workflow(conn, name))


def load_listeners(conn: sa.Connection, event: str) -> tuple[WorkflowRef, ...]:
    """Every enabled workflow listening for ``event`` as ``conn`` sees it, bypassing the
    cache (in the caller's transaction)."""
    return _listeners(_load_listeners(conn, event))
