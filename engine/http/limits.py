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
from collections.abc import Callable
from typing import Protocol

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


class RedisLimits:
    """``Limits`` in Redis: INCR+EXPIRE per window, SET NX EX for signatures."""

    def __init__(self, client: object, *, prefix: str = "wfconsole") -> None:
        self.client = client
        self.prefix = prefix

    def hit(self, key: str, limit: int) -> float | None:
        now = time.time()
        window = int(now // WINDOW)
        name = f"{self.prefix}:rate:{key}:{window}"
        pipe = self.client.pipeline()  # type: ignore[attr-defined]
        pipe.incr(name)
        pipe.expire(name, WINDOW + 5)
        count, _ = pipe.execute()
        if int(count) <= limit:
            return None
        return max(1.0, math.ceil((window + 1) * WINDOW - now))

    def first_use(self, key: str, ttl: int) -> bool:
        name = f"{self.prefix}:replay:{key}"
        return bool(self.client.set(name, b"1", nx=True, ex=ttl))  # type: ignore[attr-defined]

    def release(self, key: str) -> None:
        self.client.delete(f"{self.prefix}:replay:{key}")  # type: ignore[attr-defined]
