"""The raw-Huey baseline: a no-op task on the same broker settings as the engine's queue.

Consumers load ``bench._noop.huey`` (a RedisHuey named by ``$BENCH_NOOP_NAME`` on
``$BENCH_NOOP_REDIS_URL``); each run of the task INCRs ``<name>:done`` so the benchmark
can count completions. ``local_noop_huey`` builds the SqliteHuey twin for in-process use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import redis
from huey import Huey, RedisHuey, SqliteHuey
from huey.serializer import SignedSerializer

SECRET = "bench-noop-signing-key"


def _serializer() -> SignedSerializer:
    # The engine signs its messages; the baseline pays the same (tiny) HMAC cost.
    return SignedSerializer(secret=SECRET, salt="wfconsole")


def redis_noop_huey(url: str, name: str) -> tuple[Huey, Callable[[], object]]:
    """A RedisHuey like the engine's and its no-op task (which INCRs ``<name>:done``)."""
    huey = RedisHuey(
        name, url=url, results=False, serializer=_serializer(), blocking=True, read_timeout=1
    )
    counter = redis.Redis.from_url(url)

    @huey.task(name="noop")
    def noop() -> None:
        counter.incr(f"{name}:done")

    return huey, noop


def local_noop_huey(path: str, name: str) -> tuple[Huey, Callable[[], object], Callable[[], int]]:
    """A SqliteHuey like the engine's local queue, its no-op task, and a completion count."""
    huey = SqliteHuey(name, filename=path, results=False, serializer=_serializer())
    lock = threading.Lock()
    done = [0]

    @huey.task(name="noop")
    def noop() -> None:
        with lock:
            done[0] += 1

    return huey, noop, lambda: done[0]


_url = os.environ.get("BENCH_NOOP_REDIS_URL")
if _url:  # imported by huey_consumer
    huey, _task = redis_noop_huey(_url, os.environ["BENCH_NOOP_NAME"])
