"""Webhook triggers: which workflows listen on a path, and starting them from a request."""

from __future__ import annotations

import logging
from typing import Any

from engine.db import Database
from engine.models import utcnow
from engine.runs import Dispatcher, _row, dispatch_all, insert_executions
from engine.workflow_lookups import Hook, webhook_hooks

log = logging.getLogger("wfconsole.http")
__all__ = ["Hook", "hooks_on", "start_hooks"]


def hooks_on(db: Database, path: str) -> list[Hook]:
    """Every enabled workflow with a webhook trigger on ``path``.

    From the workflow cache: no query while nothing changed (engine/definition_cache.py);
    a miss reads the primary, since a lagging replica would answer 404 for a hook saved a
    moment ago, and a sender takes a 404 as final.
    """
    return list(webhook_hooks(db, path))


def start_hooks(
    db: Database, queue: Dispatcher, hooks: list[Hook], data: dict[str, Any]
) -> list[str]:
    """One execution per hook, committed, then enqueued; returns their ids."""
    now = utcnow()
    rows = [_row(hook.workflow_id, hook.version, "webhook", data, now, 0) for hook in hooks]
    insert_executions(db, rows)
    ids = [row["id"] for row in rows]
    dispatch_all(queue, ids)
    return ids
