"""``PlainFirstPage``: the console's first answers from the plain reads, before the engine.

The first screen needs three things: the newest page of executions, the database and
queue to name in the header, and whether both answer. On the local default (SQLite) the
plain reads (``engine.plain_reads``) give all three through the driver alone, so the rows
and ``db ok`` show while SQLAlchemy, pydantic and the ORM are still to be imported; the
engine backend opens once they are on screen (``OpeningBackend``), and from then on it
answers everything, these three included.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from engine.plain_reads.executions import ExecutionRow, iter_executions
from engine.plain_reads.health import ComponentHealth, DeploymentInfo, HealthReport, first_line
from engine.plain_reads.local_queue import local_queue_depth
from engine.plain_reads.reader import Reader, connect_sqlite

if TYPE_CHECKING:
    from engine.plain_reads.target import PlainTarget

# A path SQLAlchemy renders in a URL exactly as written (the header shows the same text
# before and after the engine backend takes over).
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9/._~-]+$")


class PlainFirstPage:
    """The three early answers, each from one SQLite connection shared by the console's
    worker threads (one call at a time)."""

    def __init__(self, target: PlainTarget) -> None:
        self.target = target
        self._reader = Reader(connect_sqlite(target.location, threads=True), "sqlite")
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(cls, target: PlainTarget | None) -> PlainFirstPage | None:
        """The early answers for ``target``, or None when they cannot be given plainly: not
        the local SQLite default (a PostgreSQL URL's redacted form is SQLAlchemy's to
        write), a path that would read differently in a URL, or a database that is not
        there at this version's schema (the engine backend creates or migrates it)."""
        if target is None or target.dialect != "sqlite" or target.redis_url:
            return None
        if not _PLAIN_PATH.match(target.location):
            return None
        from engine.plain_reads.target import open_reader

        checked = open_reader(target)
        if checked is None:
            return None
        checked.connection.close()
        return cls(target)

    def list_executions(self, **query: Any) -> list[ExecutionRow] | None:
        """The newest page when ``query`` asks for nothing else (None: ask the engine)."""
        limit = query.pop("limit", 100)
        if any(value is not None for value in query.values()):
            return None
        with self._lock:
            if self._closed:
                return None
            return list(iter_executions(self._reader, limit=min(limit, 1000)))

    def describe(self) -> DeploymentInfo:
        """The database and the local queue, as the engine backend names them."""
        return DeploymentInfo(
            f"sqlite:///{self.target.location}", "sqlite", str(self.target.queue_path)
        )

    def health(self) -> HealthReport | None:
        """Whether the database answers a trivial query and the local queue a count (None
        once closed)."""
        with self._lock:
            if self._closed:
                return None
            try:
                self._reader.value("SELECT 1")
                database = ComponentHealth(True)
            except Exception as exc:  # any failure means down; the detail says which
                database = ComponentHealth(False, first_line(exc))
        return HealthReport(database, self._queue())

    def _queue(self) -> ComponentHealth:
        try:
            local_queue_depth(self.target.queue_path, self.target.queue_name)
        except Exception as exc:  # any failure means down; the detail says which
            return ComponentHealth(False, first_line(exc))
        return ComponentHealth(True)

    def close(self) -> None:
        """Close the connection (once the engine backend answers instead)."""
        with self._lock:
            self._closed = True
            self._reader.connection.close()
