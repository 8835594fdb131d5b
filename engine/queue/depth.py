"""How many messages wait in the queue, without building a Huey instance.

Importing Huey costs a read command a fifth of a second (its storage module imports
psycopg and redis). The local queue's counts are two ``count(*)`` queries on its SQLite
file, which the standard library's driver answers; a Redis queue is asked through Huey.
The counts are the ones ``Huey.pending_count`` and ``Huey.scheduled_count`` give
(``tests/test_queue_depth.py`` checks that they agree).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config import Settings  # not loaded: the plain ``health`` counts without it


@dataclass(frozen=True)
class QueueDepth:
    """The queue's two counts, for the ``QueueCounter`` protocol of the figures."""

    queued: int
    scheduled: int

    def pending_count(self) -> int:
        """Messages waiting to be picked up."""
        return self.queued

    def scheduled_count(self) -> int:
        """Messages scheduled for later (delayed dispatches and retries)."""
        return self.scheduled


def queue_depth(settings: Settings) -> QueueDepth:
    """The configured queue's counts; raises when the queue does not answer."""
    if settings.uses_redis:
        from engine.queue.instance import make_huey

        huey = make_huey(settings)
        return QueueDepth(huey.pending_count(), huey.scheduled_count())
    return local_queue_depth(settings.queue_path, settings.queue.name)


class QueueCounts:
    """The configured queue's counts, asked once at the first call (a queue that does not
    answer raises there, where the figures record it as the queue's state)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._depth: QueueDepth | None = None

    def _read(self) -> QueueDepth:
        if self._depth is None:
            self._depth = queue_depth(self._settings)
        return self._depth

    def pending_count(self) -> int:
        """Messages waiting to be picked up."""
        return self._read().queued

    def scheduled_count(self) -> int:
        """Messages scheduled for later (delayed dispatches and retries)."""
        return self._read().scheduled


def local_queue_depth(path: Path, name: str) -> QueueDepth:
    """The counts of the SqliteHuey file at ``path`` (Huey's ``task`` and ``schedule``
    tables, rows of the queue ``name``). A file or table not created yet holds nothing:
    Huey creates both at its first message."""
    if not path.exists():
        return QueueDepth(0, 0)
    conn = sqlite3.connect(path, timeout=5)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        counts = [
            conn.execute(f"SELECT count(*) FROM {table} WHERE queue = ?", (name,)).fetchone()[0]
            if table in tables
            else 0
            for table in ("task", "schedule")
        ]
    finally:
        conn.close()
    return QueueDepth(int(counts[0]), int(counts[1]))
