"""Webhook triggers: which workflows listen on a path, and starting them from a request."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from engine.db import Database
from engine.models import utcnow
from engine.triggers import ingress
from engine.triggers.new_executions import Dispatcher, _row, dispatch_all, insert_groups
from engine.workflow_cache.lookups import Hook, webhook_hooks

log = logging.getLogger("wfconsole.http")
__all__ = ["Hook", "HooksChanged", "hooks_on", "start_hooks", "start_requests"]


class HooksChanged(Exception):
    """A hook's workflow was disabled, deleted or saved again between its lookup and the
    insert: nothing was written.

    Answered 503 with ``Retry-After`` (the signature released), so the sender's retry
    meets the current state: 404 for a workflow disabled or deleted, 202 with the new
    version — its signature checked against that version's secret — for one saved again.
    """


def hooks_on(db: Database, path: str, *, generation: int | None = None) -> list[Hook]:
    """Every enabled workflow with a webhook trigger on ``path``.

    From the workflow cache: no query while nothing changed (engine/workflow_cache/cache.py);
    a miss reads the primary, since a lagging replica would answer 404 for a hook saved a
    moment ago, and a sender takes a 404 as final. ``generation``: the cache's number read
    once for a group of requests (``WorkflowCache.generation``).
    """
    return list(webhook_hooks(db, path, generation=generation))


def start_hooks(
    db: Database, queue: Dispatcher, hooks: list[Hook], data: dict[str, Any]
) -> list[str]:
    """One execution per hook, committed, then enqueued; returns their ids.

    All or none: raises ``HooksChanged`` when any hook's workflow is no longer enabled at
    the version looked up.
    """
    [started] = start_requests(db, queue, [(hooks, data)])
    if isinstance(started, HooksChanged):
        raise started
    return started


def start_requests(
    db: Database, queue: Dispatcher, requests: Sequence[tuple[list[Hook], dict[str, Any]]]
) -> list[list[str] | HooksChanged]:
    """The executions of several accepted requests (a group commit): one transaction, one
    statement; then the ones to run enqueued together (``run_executions`` messages).

    Per request, in order: its execution ids, or ``HooksChanged`` when one of its hooks'
    workflows was no longer enabled at the version looked up (nothing of that request was
    written; the others are). A run whose conditions are false is stored SKIPPED with its
    log line and counters and not enqueued (engine/triggers/ingress.py). Storage trouble
    raises: nothing of any request was written.
    """
    now = utcnow()
    groups = [
        [_row(hook.workflow_id, hook.version, "webhook", data, now, 0) for hook in hooks]
        for hooks, data in requests
    ]
    ingress.decide(db, [row for rows in groups for row in rows])
    inserted = insert_groups(db, groups)
    if not all(inserted):
        db.workflow_cache.recheck_now()
    dispatch_all(
        queue, [i for ok, rows in zip(inserted, groups, strict=True) if ok
                for i in ingress.pending_ids(rows)],
    )  # fmt: skip
    return [
        [row["id"] for row in rows]
        if ok
        else HooksChanged(f"{len(rows)} hook(s) changed since their lookup")
        for ok, rows in zip(inserted, groups, strict=True)
    ]
