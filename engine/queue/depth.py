"""How many messages wait in the queue, without building a Huey instance.

Importing Huey costs a read command a fifth of a second (its storage module imports
psycopg and redis). The local queue's counts are two ``count(*)`` queries on its SQLite
file, which the standard library's driver answers; a Redis queue is asked through Huey.
The counts are the ones ``Huey.pending_count`` and ``Huey.scheduled_count`` give
(``tests/test_queue_depth.py`` checks that they agree).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.plain_reads.local_queue import QueueDepth as QueueDepth
from engine.plain_reads.local_queue import local_queue_depth as local_queue_depth

if TYPE_CHECKING:
    from engine.config import Settings  # not loaded: the plain ``health`` counts without it


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
