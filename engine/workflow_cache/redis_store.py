"""The workflow cache's Redis side: the shared generation number and the shared entries.

The number in Redis only ever grows: it is raised by one Lua compare-and-set (``offer``:
set only if greater), never by a plain SET, so a late publish from an earlier change or a
reader that stalled with an old number cannot put an older number back.

A Redis that fails a call (down, unreachable, slower than ``timeout``) is left alone for
``backoff`` seconds: a lookup costs at most one timeout, and the lookups after it none
until the back-off ends; meanwhile the cache reads the database (engine/workflow_cache/cache.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import redis
    from redis.commands.core import Script

log = logging.getLogger("wfconsole.cache")
T = TypeVar("T")
REDIS_TIMEOUT = 2.0
REDIS_BACKOFF = 5.0
_WARN_EVERY = 60.0
# A value that is no number (written by an older version) counts as none.
_RAISE_GENERATION = """
local current = tonumber(redis.call('GET', KEYS[1]))
if not current or tonumber(ARGV[1]) > current then
    redis.call('SET', KEYS[1], ARGV[1])
    return ARGV[1]
end
return redis.call('GET', KEYS[1])
"""


@dataclass
class RedisMirror:
    """The generation and the found entries, shared by every process on one Redis."""

    url: str = field(repr=False)
    """May hold a password: never shown."""
    password: str = field(default="", repr=False)
    prefix: str = "wfconsole:workflow-cache"
    timeout: float = REDIS_TIMEOUT
    """Seconds to connect, and to wait for any one answer."""
    backoff: float = REDIS_BACKOFF
    """Seconds Redis is left alone after a failed call."""
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._raise: Script | None = None
        self._down_until = float("-inf")
        self._warned_at = float("-inf")

    @property
    def available(self) -> bool:
        """False during a back-off: calls then return None at once."""
        return self.clock() >= self._down_until

    def generation(self) -> int | None:
        """The highest number published, or None (none yet, or Redis unavailable)."""
        stored = self._call("read the generation", lambda client: client.get(self._gen_key))
        try:
            return None if stored is None else int(stored)
        except ValueError:  # written by an older version: ``offer`` replaces it
            return None

    def offer(self, gen: int) -> int | None:
        """Raise the shared number to ``gen`` unless it is higher; returns the number now
        in Redis, or None when Redis is unavailable."""

        def raise_to(client: redis.Redis) -> Any:
            if self._raise is None:
                self._raise = client.register_script(_RAISE_GENERATION)
            return self._raise(keys=[self._gen_key], args=[gen], client=client)

        current = self._call("publish the generation", raise_to)
        return None if current is None else int(current)

    def entry(self, gen: int, kind: str, key: str) -> tuple[Any, float] | None:
        """A shared answer and the time it was read from the database, or None."""
        stored = self._call("read an entry", lambda client: client.get(self._key(gen, kind, key)))
        if stored is None:
            return None
        try:
            document = json.loads(stored)
            return document["raw"], float(document["at"])
        except (ValueError, KeyError, TypeError):  # written by a version with another form
            return None

    def keep(self, gen: int, kind: str, key: str, raw: Any, at: float, ttl: float) -> None:
        """Share an answer read from the database at ``at`` for ``ttl`` seconds."""
        document = json.dumps({"at": at, "raw": raw}, separators=(",", ":"))
        entry_key, seconds = self._key(gen, kind, key), max(1, round(ttl))
        self._call("store an entry", lambda client: client.set(entry_key, document, ex=seconds))

    def close(self) -> None:
        """Close the connections, if any were opened."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    @property
    def _gen_key(self) -> str:
        return f"{self.prefix}:generation"

    def _key(self, gen: int, kind: str, key: str) -> str:
        return f"{self.prefix}:{gen}:{kind}:{key}"

    def _call(self, action: str, call: Callable[[redis.Redis], T]) -> T | None:
        if not self.available:
            return None
        try:
            return call(self._client_or_new())
        except Exception as exc:  # down, unreachable, timed out, or an answer we cannot use
            self._down_until = self.clock() + self.backoff
            self._warn(action, exc)
            return None

    def _client_or_new(self) -> redis.Redis:
        with self._lock:
            if self._client is None:
                import redis

                self._client = redis.Redis.from_url(
                    self.url,
                    password=self.password or None,
                    socket_timeout=self.timeout,
                    socket_connect_timeout=self.timeout,
                )
            return self._client

    def _warn(self, action: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning(
                "workflow cache: could not %s in Redis (%s); reading the database for %g s",
                action,
                exc,
                self.backoff,
            )
