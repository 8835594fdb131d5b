"""Rate limits and the replay store, in Redis when configured (shared by every ``serve``).

Both are small: a fixed one-minute window counter per (client, hook path), and "has this
signature been used" — keyed by the signature alone, so a signature used on one path is
used up on every path that shares the secret — with an expiry of twice the signature
tolerance. In process otherwise.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

WINDOW = 60


class Limits(Protocol):
    """What the receiver asks before accepting a request."""

    def hit(self, key: str, limit: int) -> float | None:
        """Count a request; None when allowed, else seconds until the window resets."""
        ...

    def first_use(self, key: str, ttl: int) -> bool:
        """True the first time ``key`` is seen within ``ttl`` seconds, False after."""
        ...

    def release(self, key: str) -> None:
        """Forget ``key`` (a request that was not accepted may be sent again)."""
        ...


def hit_many(limits: Limits, keys: Sequence[tuple[str, int]]) -> list[float | None]:
    """``hit`` for several (key, limit) pairs: one Redis round trip when the store can."""
    many = getattr(limits, "hit_many", None)
    return many(keys) if many is not None else [limits.hit(key, n) for key, n in keys]


def first_use_many(limits: Limits, keys: Sequence[str], ttl: int) -> list[bool]:
    """``first_use`` for several keys, in order (a key repeated is used by its first)."""
    many = getattr(limits, "first_use_many", None)
    return many(keys, ttl) if many is not None else [limits.first_use(k, ttl) for k in keys]


def release_many(limits: Limits, keys: Sequence[str]) -> None:
    """``release`` several keys."""
    many = getattr(limits, "release_many", None)
    if many is not None:
        many(keys)
        return
    for key in keys:
        limits.release(key)


class MemoryLimits:
    """``Limits`` in this process (one ``serve`` process, or tests)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], int] = {}
        self._seen: dict[str, float] = {}

    def hit(self, key: str, limit: int) -> float | None:
        now = self.clock()
        window = int(now // WINDOW)
        with self._lock:
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] == window}
            count = self._counts.get((key, window), 0) + 1
            self._counts[(key, window)] = count
        if count <= limit:
            return None
        return max(1.0, math.ceil((window + 1) * WINDOW - now))

    def first_use(self, key: str, ttl: int) -> bool:
        now = self.clock()
        with self._lock:
            if len(self._seen) > 100_000:
                self._seen = {k: until for k, until in self._seen.items() if until > now}
            until = self._seen.get(key)
            if until is not None and until > now:
                return False
            self._seen[key] = now + ttl
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)

    def hit_many(self, keys: Sequence[tuple[str, int]]) -> list[float | None]:
        return [self.hit(key, limit) for key, limit in keys]

    def first_use_many(self, keys: Sequence[str], ttl: int) -> list[bool]:
        return [self.first_use(key, ttl) for key in keys]

    def release_many(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.release(key)


class RedisLimits:
    """``Limits`` in Redis: INCR+EXPIRE per window, SET NX EX for signatures."""

    def __init__(self, client: object, *, prefix: str = "wfconsole") -> None:
        self.client = client
        self.prefix = prefix

    def hit(self, key: str, limit: int) -> float | None:
        return self.hit_many([(key, limit)])[0]

    def hit_many(self, keys: Sequence[tuple[str, int]]) -> list[float | None]:
        """INCR + EXPIRE of every key in one MULTI pipeline (one round trip)."""
        if not keys:
            return []
        pipe = self.client.pipeline()  # type: ignore[attr-defined]
        read = self.add_hits(pipe, keys)
        return read(pipe.execute())

    def add_hits(
        self, pipe: Any, keys: Sequence[tuple[str, int]]
    ) -> Callable[[Sequence[Any]], list[float | None]]:
        """Put the INCR + EXPIRE of ``hit_many(keys)`` in ``pipe`` (2 commands per key, in
        a MULTI pipeline so no count lives without its expiry); returns what reads the
        answers off these commands' replies."""
        now = time.time()
        window = int(now // WINDOW)
        for key, _ in keys:
            name = f"{self.prefix}:rate:{key}:{window}"
            pipe.incr(name)
            pipe.expire(name, WINDOW + 5)
        wait = max(1.0, math.ceil((window + 1) * WINDOW - now))

        def read(replies: Sequence[Any]) -> list[float | None]:
            counts = replies[::2]
            for count in counts:
                if isinstance(count, Exception):
                    raise count
            return [None if int(count) <= limit else wait
                    for count, (_, limit) in zip(counts, keys, strict=True)]  # fmt: skip

        return read

    def first_use_many(self, keys: Sequence[str], ttl: int) -> list[bool]:
        """SET NX EX of every key in one pipeline, in order."""
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)  # type: ignore[attr-defined]
        self.add_first_uses(pipe, keys, ttl)
        return [bool(reply) for reply in pipe.execute()]

    def add_first_uses(self, pipe: Any, keys: Sequence[str], ttl: int) -> None:
        """Put the SET NX EX of ``first_use_many(keys, ttl)`` in ``pipe`` (one command per
        key, in order: a reply that is not None means first use)."""
        for key in keys:
            pipe.set(self.replay_key(key), b"1", nx=True, ex=ttl)

    def release_many(self, keys: Sequence[str]) -> None:
        if keys:
            self.client.delete(*(self.replay_key(key) for key in keys))  # type: ignore[attr-defined]

    def replay_key(self, key: str) -> str:
        """The Redis key of a signature in the replay store."""
        return f"{self.prefix}:replay:{key}"

    def first_use(self, key: str, ttl: int) -> bool:
        name = f"{self.prefix}:replay:{key}"
        return bool(self.client.set(name, b"1", nx=True, ex=ttl))  # type: ignore[attr-defined]

    def release(self, key: str) -> None:
        self.client.delete(f"{self.prefix}:replay:{key}")  # type: ignore[attr-defined]


class OverLimit:
    """Keys this process saw over their limit in the current window.

    A window's count only grows, so a key over its limit stays over until the window ends:
    the receiver answers such a request 429 without counting it again and without checking
    its signature, and a client that keeps sending past its limit costs one look-up here.
    Used by one thread (the receiver's rounds).
    """

    def __init__(self, clock: Callable[[], float] = time.time, limit: int = 100_000) -> None:
        self.clock = clock
        self.limit = limit
        self._window = -1
        self._keys: set[str] = set()

    def wait(self, key: str) -> float | None:
        """Seconds until the window resets when ``key`` is known to be over, else None."""
        now = self.clock()
        window = int(now // WINDOW)
        if window != self._window or key not in self._keys:
            return None
        return max(1.0, math.ceil((window + 1) * WINDOW - now))

    def add(self, key: str) -> None:
        """``key`` was answered over its limit in the current window."""
        window = int(self.clock() // WINDOW)
        if window != self._window or len(self._keys) >= self.limit:
            self._window, self._keys = window, set()
        self._keys.add(key)
