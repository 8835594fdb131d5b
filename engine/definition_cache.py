"""The workflow cache: what triggers look up on every run, without a query each time.

The look-ups (engine/workflow_lookups.py) — a workflow by name (manual runs), the enabled
workflows with a webhook trigger on a path (every accepted webhook) and the enabled
listeners of an event (events from the CLI and from steps) — are cached for
``cache.ttl`` seconds (default 3600), by the ``WorkflowCache`` of each ``Database``.

**Invalidation.** The row of ``definition_generation`` holds a token that every
transaction changing a workflow replaces (``mark_changed``: save, import, edit, enable,
disable, delete, roll back, secret rotation; a restore replaces it afterwards). Entries
are keyed by the token, and every lookup first reads the current token, so once a change
has committed no process — whatever cache it has — answers from an older entry:

- **without Redis** the token is read from the database (a primary-key read of one row,
  on SQLite a local file read), and entries live in this process;
- **with Redis** (``queue.redis_url``) the token is mirrored in Redis: the committing
  process writes the new token there right after its commit, and readers read only that
  key (one GET). Entries live in this process and in Redis, shared by every process. The
  mirror key expires after ``RECHECK_SECONDS``; the next reader then copies the token
  from the database again (``SET NX``: the committing process's plain ``SET`` wins). A
  process that dies between its commit and its Redis write, or that changes a workflow
  with a configuration lacking ``queue.redis_url``, therefore leaves Redis readers at
  most that many seconds behind; a Redis that does not answer makes readers use the
  database.

An entry read from the database is stored under the token read *before* that query, so
an entry is never older than its token. Empty answers (an unknown webhook path) are kept
in this process only: a flood of random paths cannot fill Redis. A cached webhook secret
is the stored form, as in the database (encrypted, or a ``${ENV}`` reference).

``cache.enabled = false`` or ``cache.ttl = 0`` sends every lookup to the database.
Hits and misses are counted per process and kind (``GET /metrics``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import Session

from engine.config import Settings
from engine.definition_generation import database_token, write_token
from engine.models import new_id

if TYPE_CHECKING:
    import redis

    from engine.db import Database

log = logging.getLogger("wfconsole.cache")
RECHECK_SECONDS = 10.0
LOCAL_ENTRIES = 4096
SESSION_KEY = "workflow_cache"
"""``Session.info`` key under which ``Database.session`` hands its cache to ``mark_changed``."""
_PENDING_GENERATION = "workflow_cache_generation"
_LISTENING = "workflow_cache_listening"
_REDIS_TIMEOUT = 2.0
_WARN_EVERY = 60.0


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


@dataclass
class WorkflowCache:
    """The cache of one process (one per ``Database``); see the module docstring."""

    enabled: bool = True
    ttl: float = 3600.0
    redis_url: str = ""
    redis_password: str = field(default="", repr=False)
    prefix: str = "wfconsole:workflow-cache"
    recheck: float = RECHECK_SECONDS
    """Seconds the Redis mirror of the token lives before it is copied from the database."""
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._token: str | None = None
        self._counts: dict[str, list[int]] = {}
        self._client: redis.Redis | None = None
        self._warned_at = -_WARN_EVERY

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

    def lookup(self, db: Database, kind: Lookup, key: str) -> Any:
        """The answer for ``key``: from this process, Redis, or the database."""
        if not self.active:
            self._count(kind.name, hit=False)
            return kind.build(self._load(db, kind, key))
        token = self._current_token(db)
        now = self.clock()
        with self._lock:
            if token != self._token:  # a change committed: every entry is stale
                self._entries.clear()
                self._token = token
            entry = self._entries.get((kind.name, key))
            if entry is not None and entry.expires > now:
                self._entries.move_to_end((kind.name, key))
                self._counts.setdefault(kind.name, [0, 0])[0] += 1
                return entry.value
        shared = self._shared_get(token, kind, key, now)
        if shared is not None:
            raw, expires = shared
            value = kind.build(raw)
            self._keep(token, kind.name, key, value, expires)
            self._count(kind.name, hit=True)
            return value
        raw = self._load(db, kind, key)
        value = kind.build(raw)
        self._keep(token, kind.name, key, value, now + self.ttl)
        if raw:
            self._shared_put(token, kind, key, raw, now)
        self._count(kind.name, hit=False)
        return value

    def publish(self, token: str) -> None:
        """After a change committed: tell every process sharing Redis the new token."""
        with self._lock:
            self._entries.clear()
            self._token = None
        if not self.redis_url:
            return
        try:
            self._client_or_new().set(self._generation_key, token, px=self._recheck_ms)
        except Exception as exc:
            # Readers re-read the token from the database within RECHECK_SECONDS.
            self._warn("could not publish a workflow change to Redis", exc)

    def stats(self) -> CacheStats:
        """This process's hits and misses per kind of lookup."""
        with self._lock:
            hits = {name: counts[0] for name, counts in self._counts.items()}
            misses = {name: counts[1] for name, counts in self._counts.items()}
        return CacheStats(self.active, self.backend, hits, misses)

    def close(self) -> None:
        """Close the Redis connections, if any were opened."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    @property
    def _recheck_ms(self) -> int:
        return max(1, round(self.recheck * 1000))

    @property
    def _generation_key(self) -> str:
        return f"{self.prefix}:generation"

    def _count(self, kind: str, *, hit: bool) -> None:
        with self._lock:
            self._counts.setdefault(kind, [0, 0])[0 if hit else 1] += 1

    def _keep(self, token: str, kind: str, key: str, value: Any, expires: float) -> None:
        with self._lock:
            if token != self._token:
                return  # a newer token arrived meanwhile; this answer may predate it
            self._entries[(kind, key)] = _Entry(value, expires)
            self._entries.move_to_end((kind, key))
            while len(self._entries) > LOCAL_ENTRIES:
                self._entries.popitem(last=False)

    def _load(self, db: Database, kind: Lookup, key: str) -> Any:
        # The primary: a replica may not have the change the token already announces.
        with db.primary_read_engine.connect() as conn:
            return kind.load(conn, key)

    def _current_token(self, db: Database) -> str:
        if self.redis_url:
            try:
                client = self._client_or_new()
                mirrored = client.get(self._generation_key)
                if mirrored is not None:
                    return mirrored.decode() if isinstance(mirrored, bytes) else mirrored
                token = database_token(db)
                client.set(self._generation_key, token, nx=True, px=self._recheck_ms)
                return token
            except Exception as exc:
                self._warn("Redis did not answer; the workflow cache reads the database", exc)
        return database_token(db)

    def _client_or_new(self) -> redis.Redis:
        with self._lock:
            if self._client is None:
                import redis

                self._client = redis.Redis.from_url(
                    self.redis_url,
                    password=self.redis_password or None,
                    socket_timeout=_REDIS_TIMEOUT,
                    socket_connect_timeout=_REDIS_TIMEOUT,
                )
            return self._client

    def _entry_key(self, token: str, kind: Lookup, key: str) -> str:
        return f"{self.prefix}:{token}:{kind.name}:{key}"

    def _shared_get(self, token: str, kind: Lookup, key: str, now: float) -> Any:
        if not self.redis_url:
            return None
        try:
            stored = self._client_or_new().get(self._entry_key(token, kind, key))
            if stored is None:
                return None
            document = json.loads(stored)
            expires = float(document["at"]) + self.ttl
        except Exception as exc:  # Redis down, or an entry this version cannot read
            self._warn("no workflow cache entry from Redis; reading the database", exc)
            return None
        return (document["raw"], expires) if expires > now else None

    def _shared_put(self, token: str, kind: Lookup, key: str, raw: Any, now: float) -> None:
        if not self.redis_url:
            return
        document = json.dumps({"at": now, "raw": raw}, separators=(",", ":"))
        try:
            entry_key = self._entry_key(token, kind, key)
            self._client_or_new().set(entry_key, document, ex=max(1, round(self.ttl)))
        except Exception as exc:
            self._warn("could not store a workflow cache entry in Redis", exc)

    def _warn(self, message: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning("%s: %s", message, exc)


def mark_changed(session: Session) -> None:
    """Call in every transaction that changes a workflow: no cache serves the old one.

    The token changes in the session's transaction; once it commits, the cache of the
    ``Database`` the session came from publishes it to Redis (when configured).
    """
    session.info[_PENDING_GENERATION] = write_token(session.connection())
    cache = session.info.get(SESSION_KEY)
    if isinstance(cache, WorkflowCache) and not session.info.get(_LISTENING):
        session.info[_LISTENING] = True

        def committed(committed_session: Session) -> None:
            token = committed_session.info.pop(_PENDING_GENERATION, None)
            if token is not None:
                cache.publish(token)

        def rolled_back(rolled_session: Session) -> None:
            rolled_session.info.pop(_PENDING_GENERATION, None)

        sa.event.listen(session, "after_commit", committed)
        sa.event.listen(session, "after_rollback", rolled_back)


def mark_restored(db: Database) -> None:
    """After a restore replaced every workflow: a fresh token in the database and Redis."""
    token = new_id()
    try:
        with db.engine.begin() as conn:
            token = write_token(conn)
    except sa.exc.DBAPIError as exc:  # a backup from before the table: the migration adds it
        log.warning("restored database has no cache generation yet: %s", exc)
    db.workflow_cache.publish(token)
