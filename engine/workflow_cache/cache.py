"""The workflow cache: what triggers look up on every run, without a query each time.

The look-ups (engine/workflow_cache/lookups.py) — a workflow by name (manual runs), the enabled
workflows with a webhook trigger on a path (every accepted webhook) and the enabled
listeners of an event (events from the CLI and from steps) — are cached for
``cache.ttl`` seconds (default 3600), by the ``WorkflowCache`` of each ``Database``.

**Invalidation.** The row of ``definition_generation`` holds a number that every
transaction changing a workflow raises by one (``mark_changed``: save, import, edit,
enable, disable, delete, roll back, secret rotation; a restore moves it further,
engine/workflow_cache/generation.py). Entries are keyed by the number, and every lookup
first reads the current number:

- **without Redis** from the database (a primary-key read of one row, on SQLite a local
  file read), and entries live in this process. Once a change has committed, no lookup
  answers from an older entry.
- **with Redis** (``queue.redis_url``) from Redis (one GET), where the committing process
  puts the new number right after its commit. It does so with a compare-and-set that
  only raises the number (engine/workflow_cache/redis_store.py), so publishes that arrive
  out of order, or a reader holding an old number, never lower it. In addition each
  process compares Redis with the database every ``RECHECK_SECONDS`` (10 s) and raises
  Redis to the database's number. Found entries live in this process and in Redis,
  shared by every process. The one window for a stale answer: a change that commits
  but whose number does not reach Redis — its process dies between commit and publish,
  Redis does not answer it (or is in back-off), or its configuration lacks
  ``queue.redis_url`` — is seen by Redis readers within ``RECHECK_SECONDS`` of the
  commit. A Redis that does not answer is left alone for a few seconds (back-off);
  readers meanwhile use the database's number.

An entry read from the database is stored under the number read *before* that query, so
an entry is never older than its number. Empty answers (an unknown webhook path, an event
nobody listens for) are kept apart, in this process only and in a small store of their
own: a flood of random paths can neither fill Redis nor push real entries out. A cached
webhook secret is the stored form, as in the database (encrypted, or a ``${ENV}``
reference).

``cache.enabled = false`` or ``cache.ttl = 0`` sends every lookup to the database.
Hits and misses are counted per process and kind (``GET /metrics``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.config import Settings
from engine.workflow_cache.generation import (
    database_generation,
    next_generation,
    restart_generation,
)
from engine.workflow_cache.redis_store import REDIS_BACKOFF, REDIS_TIMEOUT, RedisMirror

if TYPE_CHECKING:
    from sqlmodel import Session

    from engine.db import Database

log = logging.getLogger("wfconsole.cache")
RECHECK_SECONDS = 10.0
FOUND_ENTRIES = 4096
ABSENT_ENTRIES = 512
SESSION_KEY = "workflow_cache"
"""``Session.info`` key under which ``Database.session`` hands its cache to ``mark_changed``."""
_PENDING_GENERATION = "workflow_cache_generation"
_LISTENING = "workflow_cache_listening"


@dataclass(frozen=True)
class CacheStats:
    """Lookups of one process: answered from the cache (hits) or the database (misses)."""

    enabled: bool
    backend: str
    """``redis`` or ``process``."""
    hits: dict[str, int]
    misses: dict[str, int]

    @property
    def hit_ratio(self) -> float | None:
        """Hits over all lookups, or None before the first lookup."""
        hits, misses = sum(self.hits.values()), sum(self.misses.values())
        return hits / (hits + misses) if hits + misses else None


@dataclass(frozen=True)
class Lookup:
    """One kind of cached look-up: how to read it, and how to build the answer from it."""

    name: str
    load: Callable[[sa.Connection, str], Any]
    """Reads the JSON-able raw answer; empty (falsy) means "nothing there"."""
    build: Callable[[Any], Any]


@dataclass
class _Entry:
    value: Any
    expires: float


class _Bounded(OrderedDict[tuple[str, str], _Entry]):
    """Entries by (kind, key), the least recently used dropped past ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def fresh(self, kind: str, key: str, now: float) -> _Entry | None:
        entry = self.get((kind, key))
        if entry is None or entry.expires <= now:
            return None
        self.move_to_end((kind, key))
        return entry

    def put(self, kind: str, key: str, entry: _Entry) -> None:
        self[(kind, key)] = entry
        self.move_to_end((kind, key))
        while len(self) > self.limit:
            self.popitem(last=False)


@dataclass
class WorkflowCache:
    """The cache of one process (one per ``Database``); see the module docstring."""

    enabled: bool = True
    ttl: float = 3600.0
    redis_url: str = field(default="", repr=False)
    """May hold a password: never shown."""
    redis_password: str = field(default="", repr=False)
    prefix: str = "wfconsole:workflow-cache"
    recheck: float = RECHECK_SECONDS
    """Seconds between a process's comparisons of the Redis number with the database's."""
    redis_timeout: float = REDIS_TIMEOUT
    redis_backoff: float = REDIS_BACKOFF
    found_entries: int = FOUND_ENTRIES
    absent_entries: int = ABSENT_ENTRIES
    """Empty answers kept apart, so that they never push found ones out."""
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._found = _Bounded(self.found_entries)
        self._absent = _Bounded(self.absent_entries)
        self._gen: int | None = None
        self._next_check = float("-inf")
        self._counts: dict[str, list[int]] = {}
        self._redis: RedisMirror | None = None
        if self.redis_url:
            self._redis = RedisMirror(
                self.redis_url,
                self.redis_password,
                prefix=self.prefix,
                timeout=self.redis_timeout,
                backoff=self.redis_backoff,
                clock=lambda: self.clock(),
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkflowCache:
        """The cache ``cache.*`` configures; in Redis when the queue is."""
        return cls(
            enabled=settings.cache.enabled,
            ttl=float(settings.cache.ttl),
            redis_url=settings.queue.redis_url,
            redis_password=settings.queue.redis_password.get_secret_value(),
            prefix=f"wfconsole:{settings.queue.name}:workflow-cache",
        )

    @property
    def active(self) -> bool:
        """Whether lookups are cached at all."""
        return self.enabled and self.ttl > 0

    @property
    def backend(self) -> str:
        """Where entries are shared: ``redis`` or ``process``."""
        return "redis" if self.redis_url else "process"

    def generation(self, db: Database) -> int | None:
        """The current number (one read), for several ``lookup(..., generation=)`` calls
        that stand for requests which all arrived before this read; None when inactive."""
        return self._current_generation(db) if self.active else None

    def lookup(self, db: Database, kind: Lookup, key: str, *, generation: int | None = None) -> Any:
        """The answer for ``key``: from this process, Redis, or the database.

        ``generation``: the number as read by ``generation()`` for this lookup (a group of
        requests reads it once); by default it is read now.
        """
        if not self.active:
            self._count(kind.name, hit=False)
            return kind.build(self._load(db, kind, key))
        gen = self._current_generation(db) if generation is None else generation
        now = self.clock()
        with self._lock:
            if gen != self._gen:  # a change committed: every entry is stale
                self._found.clear()
                self._absent.clear()
                self._gen = gen
            entry = self._found.fresh(kind.name, key, now)
            if entry is None:
                entry = self._absent.fresh(kind.name, key, now)
            if entry is not None:
                self._counts.setdefault(kind.name, [0, 0])[0] += 1
                return entry.value
        shared = self._redis.entry(gen, kind.name, key) if self._redis is not None else None
        if shared is not None and shared[1] + self.ttl > now:
            value = kind.build(shared[0])
            self._keep(gen, kind.name, key, _Entry(value, shared[1] + self.ttl), found=True)
            self._count(kind.name, hit=True)
            return value
        raw = self._load(db, kind, key)
        value = kind.build(raw)
        self._keep(gen, kind.name, key, _Entry(value, now + self.ttl), found=bool(raw))
        if raw and self._redis is not None:
            self._redis.keep(gen, kind.name, key, raw, now, self.ttl)
        self._count(kind.name, hit=False)
        return value

    def publish(self, gen: int) -> None:
        """After a change committed: forget this process's entries, and raise the number
        in Redis (when configured) to ``gen``."""
        self.forget()
        if self._redis is not None:
            self._redis.offer(gen)

    def forget(self) -> None:
        """Drop every entry of this process."""
        with self._lock:
            self._found.clear()
            self._absent.clear()
            self._gen = None

    def recheck_now(self) -> None:
        """A trigger found an answer out of date (its insert was refused): forget this
        process's entries, and compare Redis with the database on the next lookup."""
        self.forget()
        self._next_check = float("-inf")

    def shared_generation(self) -> int:
        """The number in Redis (0 without Redis, or when it does not answer)."""
        return (self._redis.generation() or 0) if self._redis is not None else 0

    def stats(self) -> CacheStats:
        """This process's hits and misses per kind of lookup."""
        with self._lock:
            hits = {name: counts[0] for name, counts in self._counts.items()}
            misses = {name: counts[1] for name, counts in self._counts.items()}
        return CacheStats(self.active, self.backend, hits, misses)

    def close(self) -> None:
        """Close the Redis connections, if any were opened."""
        if self._redis is not None:
            self._redis.close()

    def _count(self, kind: str, *, hit: bool) -> None:
        with self._lock:
            self._counts.setdefault(kind, [0, 0])[0 if hit else 1] += 1

    def _keep(self, gen: int, kind: str, key: str, entry: _Entry, *, found: bool) -> None:
        with self._lock:
            if gen != self._gen:
                return  # a newer number arrived meanwhile; this answer may predate it
            (self._found if found else self._absent).put(kind, key, entry)

    def _load(self, db: Database, kind: Lookup, key: str) -> Any:
        # The primary: a replica may not have the change the number already announces.
        with db.primary_read_engine.connect() as conn:
            return kind.load(conn, key)

    def _current_generation(self, db: Database) -> int:
        if self._redis is None:
            return database_generation(db)
        now = self.clock()
        if now < self._next_check:
            shared = self._redis.generation()
            if shared is not None:
                return shared
        # Time to compare with the database (or Redis has no number, or did not answer).
        gen = database_generation(db)
        shared = self._redis.offer(gen)
        if shared is None:
            return gen
        self._next_check = now + self.recheck
        return shared


def mark_changed(session: Session) -> None:
    """Call in every transaction that changes a workflow: no cache serves the old one.

    The number grows in the session's transaction; once it commits, the cache of the
    ``Database`` the session came from publishes it to Redis (when configured).
    """
    session.info[_PENDING_GENERATION] = next_generation(session.connection())
    cache = session.info.get(SESSION_KEY)
    if isinstance(cache, WorkflowCache) and not session.info.get(_LISTENING):
        session.info[_LISTENING] = True

        def committed(committed_session: Session) -> None:
            gen = committed_session.info.pop(_PENDING_GENERATION, None)
            if gen is not None:
                cache.publish(gen)

        def rolled_back(rolled_session: Session) -> None:
            rolled_session.info.pop(_PENDING_GENERATION, None)

        sa.event.listen(session, "after_commit", committed)
        sa.event.listen(session, "after_rollback", rolled_back)


def mark_restored(db: Database) -> None:
    """After a restore replaced every workflow: a number above any used, in the database
    and Redis."""
    cache = db.workflow_cache
    try:
        with db.engine.begin() as conn:
            gen = restart_generation(conn, above=cache.shared_generation())
    except sa.exc.DBAPIError as exc:  # a backup from before the table: the migration adds it
        log.warning("restored database has no cache generation yet: %s", exc)
        cache.forget()
        return
    cache.publish(gen)
