"""The stores of a receiver round: the rate limits and replay claims in one call, then the
enqueue and the releases in one call.

A round of webhook requests (engine/http/hook_rounds.py) counts the new requests against
their rate limits and claims the signatures that held (before anything is written), then,
after the commit, enqueues the executions to run and releases the signatures of requests
that were refused after their claim. When the limits and the replay store use the
queue's own Redis connection (``serve`` with ``queue.redis_url``), each of the two is one
pipeline (``SharedRedis``): the counts and the claims in one ``MULTI`` (no count lives
without its expiry), the messages and the releases in one more. Otherwise
(``SeparateCalls``) each goes on its own, as the limits and the queue offer.

Either way the guarantees hold: a signature is claimed in the store every ``serve``
shares before its executions are written; nothing is enqueued before its row committed;
a failed enqueue is logged and left to the sweeper.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from engine.http.limits import Limits, RedisLimits, first_use_many, hit_many, release_many
from engine.triggers.new_executions import Dispatcher, dispatch_all

log = logging.getLogger("wfconsole.http")


class RoundStore(Protocol):
    """Where a round counts, claims, enqueues and releases."""

    def count_and_claim(
        self, hits: Sequence[tuple[str, int]], claims: Sequence[str], ttl: int
    ) -> tuple[list[float | None], list[bool]]:
        """Each hit's wait (None: allowed) and each claim's first use; raises when the
        store does not answer (then nothing may be taken as allowed or fresh)."""
        ...

    def enqueue_and_release(self, execution_ids: Sequence[str], release: Sequence[str]) -> None:
        """Enqueue (a failure is logged: the sweeper's) and forget claims (best effort)."""
        ...


class Collected:
    """A ``Dispatcher`` that keeps the ids it is asked to enqueue, for the round's store."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def dispatch(self, execution_id: str, delay: float | None = None) -> None:
        self.dispatch_many([execution_id], delay)

    def dispatch_many(self, execution_ids: Sequence[str], delay: float | None = None) -> None:
        if delay:
            raise ValueError("a round enqueues nothing for later")
        self.ids.extend(execution_ids)


class SeparateCalls:
    """The limits' calls and the queue's ``dispatch``, one after the other."""

    def __init__(self, limits: Limits, queue: Dispatcher) -> None:
        self.limits = limits
        self.queue = queue

    def count_and_claim(
        self, hits: Sequence[tuple[str, int]], claims: Sequence[str], ttl: int
    ) -> tuple[list[float | None], list[bool]]:
        waits = hit_many(self.limits, hits) if hits else []
        return waits, first_use_many(self.limits, claims, ttl) if claims else []

    def enqueue_and_release(self, execution_ids: Sequence[str], release: Sequence[str]) -> None:
        if execution_ids:
            dispatch_all(self.queue, execution_ids)
        if release:
            with contextlib.suppress(Exception):
                release_many(self.limits, release)


class RedisQueue(Protocol):
    """A queue that hands over its messages (``engine.workers.runtime.Queue``)."""

    def redis_messages(self, execution_ids: Sequence[str]) -> tuple[str, list[bytes]] | None:
        """The list and the messages to push, or None when the queue is no Redis list."""
        ...


class SharedRedis:
    """The limits and the queue on one Redis connection: one pipeline per call."""

    def __init__(self, limits: RedisLimits, queue: Any) -> None:
        self.limits = limits
        self.queue = queue

    def count_and_claim(
        self, hits: Sequence[tuple[str, int]], claims: Sequence[str], ttl: int
    ) -> tuple[list[float | None], list[bool]]:
        if not hits and not claims:
            return [], []
        pipe = self.limits.client.pipeline()  # type: ignore[attr-defined]
        read = self.limits.add_hits(pipe, hits)
        self.limits.add_first_uses(pipe, claims, ttl)
        replies = pipe.execute(raise_on_error=False)
        fresh = replies[2 * len(hits) :]
        for reply in fresh:
            if isinstance(reply, Exception):  # never taken for a first use
                raise reply
        return read(replies[: 2 * len(hits)]), [bool(reply) for reply in fresh]

    def enqueue_and_release(self, execution_ids: Sequence[str], release: Sequence[str]) -> None:
        messages = None
        if execution_ids:
            try:
                messages = self.queue.redis_messages(execution_ids)
            except Exception as exc:  # e.g. the signing key could not be read
                _enqueue_failed(len(execution_ids), exc)
            else:
                if messages is None:  # not a Redis list after all: the usual way
                    dispatch_all(self.queue, execution_ids)
        if messages is None and not release:
            return
        pipe = self.limits.client.pipeline(transaction=False)  # type: ignore[attr-defined]
        if messages is not None:
            pipe.lpush(messages[0], *messages[1])
        if release:
            pipe.delete(*(self.limits.replay_key(key) for key in release))
        try:
            replies = pipe.execute(raise_on_error=False)
        except Exception as exc:
            replies = [exc, exc]
        if messages is not None and isinstance(replies[0], Exception):
            _enqueue_failed(len(execution_ids), replies[0])


def _enqueue_failed(count: int, exc: Exception) -> None:
    log.warning("could not enqueue %d execution(s) (%s); the sweeper will enqueue them",
                count, exc)  # fmt: skip


def round_store(limits: Limits, queue: Dispatcher) -> RoundStore:
    """``SharedRedis`` when the limits use the queue's Redis connection, else
    ``SeparateCalls``."""
    huey = getattr(queue, "huey", None)
    conn = getattr(getattr(huey, "storage", None), "conn", None)
    if (
        isinstance(limits, RedisLimits)
        and conn is limits.client
        and hasattr(queue, "redis_messages")
    ):
        return SharedRedis(limits, queue)
    return SeparateCalls(limits, queue)
