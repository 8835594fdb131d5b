"""The local queue's counts, read from its SQLite file with the standard library's driver.

Huey's ``SqliteStorage`` keeps messages in a ``task`` table and delayed ones in
``schedule``; the counts are the ones ``Huey.pending_count`` and ``Huey.scheduled_count``
give (``tests/test_queue_depth.py`` checks that they agree). ``engine.queue.depth`` asks
a Redis queue through Huey.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path


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
