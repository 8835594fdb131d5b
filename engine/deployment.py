"""One deployment as a long-lived client (the console) sees it: its database with
read-your-writes routing, its queue, and what to call them.

The user interface asks this rather than choosing between the primary and the read replica
itself or building Queue and Huey objects: routing and queue construction are engine
policy. The queue's modules (Huey, the worker runtime) and the ORM are imported when a
method first needs them: the console's first page and health check use neither.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.config import Settings
from engine.db import Database, redact_url, session_scope
from engine.plain_reads.health import DeploymentInfo as DeploymentInfo
from engine.plain_reads.health import QueueKind as QueueKind
from engine.queue.depth import local_queue_depth
from engine.security.private_files import ensure_private_sqlite

if TYPE_CHECKING:
    from engine.services.metrics import QueueCounter
    from engine.triggers.new_executions import Dispatcher

READ_PRIMARY_AFTER_CHANGE = 5.0
"""Seconds a client reads the primary after it changed something itself.

With a read replica (``database.read_url``) the screen an operator returns to after a
save, retry or cancel would otherwise show the replica's state from before the change
for as long as the replica lags (normally well under a second; this is the margin).
"""


class Deployment:
    """A database and a queue, with reads routed for read-your-writes.

    ``queue`` may be given (a test's recorder, an embedded worker's queue); otherwise the
    deployment's own is built on first use.
    """

    def __init__(self, db: Database, settings: Settings, *, queue: Dispatcher | None = None):
        self.db = db
        self.settings = settings
        self._queue = queue
        self._huey: Any = None
        self._counter: QueueCounter | None = None
        self._lock = threading.Lock()
        self.primary_until = float("-inf")
        """Until this ``time.monotonic()``, reads go to the primary (see ``wrote``)."""

    @property
    def reads(self) -> Database:
        """The database for reads: the replica, or the primary right after a change."""
        if time.monotonic() < self.primary_until:
            return self.db.on_primary()
        return self.db

    def wrote(self) -> None:
        """This client changed something: read the primary for a while, to see it."""
        self.primary_until = time.monotonic() + READ_PRIMARY_AFTER_CHANGE

    @property
    def queue(self) -> Dispatcher:
        """The deployment's queue, for starting runs; opened on first use."""
        from engine.workers.runtime import Queue

        with self._lock:
            if self._queue is None:
                self._queue = Queue(self.settings, db=self.db)
            return self._queue

    def queue_storage(self) -> Any:
        """The deployment's Huey instance: its messages, schedule and locks."""
        from engine.queue.instance import make_huey
        from engine.workers.runtime import Queue

        queue = self.queue
        if isinstance(queue, Queue):
            return queue.huey
        with self._lock:
            if self._huey is None:
                self._huey = make_huey(self.settings)
            return self._huey

    def queue_counter(self) -> QueueCounter:
        """What counts queued messages for figures and health: a Huey instance of its own
        on Redis; the local queue's file read with ``sqlite3`` (the counts Huey gives,
        without importing Huey, which costs the console's first health check ~0.2 s)."""
        with self._lock:
            if self._counter is None:
                if self.settings.uses_redis:
                    from engine.queue.instance import make_huey

                    self._counter = make_huey(self.settings)
                else:
                    name = self.settings.queue.name
                    self._counter = LocalQueueCounter(self.settings.queue_path, name)
            return self._counter

    def use_queue_counter(self, counter: QueueCounter) -> None:
        """Count with ``counter`` instead (a test's stand-in, a shared instance)."""
        self._counter = counter

    def describe(self) -> DeploymentInfo:
        """The database and queue, passwords hidden."""
        if self.settings.uses_redis:
            location = redact_url(self.settings.queue.redis_url)
            return DeploymentInfo(self.db.display_url, "redis", location)
        return DeploymentInfo(self.db.display_url, "sqlite", str(self.settings.queue_path))

    def user_role(self, username: str) -> str:
        """The role of ``username`` (first sight creates the user), read on the primary."""
        from engine.access.audit import ensure_user  # the ORM: not needed before this

        with session_scope(self.db) as session:
            return ensure_user(session, username).role


class LocalQueueCounter:
    """The local queue's counts, read from its SQLite file at each call.

    The file is made (0600, in a private directory) when the counter is built, as the
    SqliteHuey the counter stands in for would: a queue directory that cannot be made
    fails there, and the health check reports the queue down.
    """

    def __init__(self, path: Path, name: str) -> None:
        self.path = ensure_private_sqlite(path)
        self.name = name

    def pending_count(self) -> int:
        """Messages waiting to be picked up."""
        return local_queue_depth(self.path, self.name).queued

    def scheduled_count(self) -> int:
        """Messages scheduled for later (delayed dispatches and retries)."""
        return local_queue_depth(self.path, self.name).scheduled
