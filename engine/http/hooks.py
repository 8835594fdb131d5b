"""Webhook triggers: which workflows listen on a path, and starting them from a request."""

from __future__ import annotations

import logging
from typing import Any

from engine.db import Database
from engine.models import utcnow
from engine.triggers.new_executions import Dispatcher, _row, dispatch_all, insert_executions
from engine.workflow_cache.lookups import Hook, webhook_hooks

log = logging.getLogger("wfconsole.http")
__all__ = ["Hook", "HooksChanged", "hooks_on", "start_hooks"]


class HooksChanged(Exception):
    """A hook's workflow was disabled, deleted or saved again between its lookup and the
    insert: nothing was written.

    Answered 503 with ``Retry-After`` (the signature released), so the sender's retry
    meets the current state: 404 for a workflow disabled or deleted, 202 with the new
    version — its signature checked against that version's secret — for one saved again.
    """


def hooks_on(db: Database, path: str) -> list[Hook]:
    """Every enabled workflow with a webhook trigger on ``path``.

    From the workflow cache: no query while nothing changed (engine/workflow_cache/cache.py);
    a miss reads the primary, since a lagging replica would answer 404 for a hook saved a
    moment ago, and a sender takes a 404 as final.
    """
    return list(webhook_hooks(db, path))


def start_hooks(
    db: Database, queue: Dispatcher, hooks: list[Hook], data: dict[str, Any]
) -> list[str]:
    """One execution per hook, committed, then enqueued; returns their ids.

    All or none: raises ``HooksChanged`` when any hook's workflow is no longer enabled at
    the version looked up.
    """
    now = utcnow()
    rows = [_row(hook.workflow_id, hook.version, "webhook", data, now, 0) for hook in hooks]
    if not insert_executions(db, rows):
        db.workflow_cache.recheck_now()
        raise HooksChanged(f"{len(rows)} hook(s) changed since their lookup")
    ids = [row["id"] for row in rows]
    dispatch_all(queue, ids)
    return ids
