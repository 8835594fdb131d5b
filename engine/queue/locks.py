"""Huey task locks: which are held, by whom, and releasing one only if it is unchanged.

Huey keeps a lock (``huey.lock_task(name)``) as the key ``<queue name>.lock.<name>`` in
its key/value store (the SQLite file's ``kv`` table, or the Redis hash
``huey.results.<name>``), with ``'1'`` as the value: nobody can tell who holds it.
``hold_lock`` takes the same key but stores its holder's worker id (as in ``worker_id`` of
a claimed execution: ``host:pid:tag``, or ``host:pid`` before) and a token, so maintenance
can see a lock whose holder stopped beating (``engine.services.queue_tools``) and release
just that lock.

Values are read through the queue's signed serializer: a value written into Redis
without the signing key is never unpickled and counts as a lock of unknown holder.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from huey import Huey
from huey.exceptions import TaskLockedException
from huey.storage import RedisStorage, SqliteStorage

from engine.plain_reads.queue_report import HeldLock, lock_key_prefix

# Delete the hash field only while it still holds the value we read.
_REDIS_DELETE_IF_SAME = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
    return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


def lock_prefix(huey: Huey) -> str:
    """The key prefix of every lock of this queue (Huey's own template)."""
    return lock_key_prefix(huey.name)


def _owner(huey: Huey, raw: bytes) -> str | None:
    try:
        value: Any = huey.serializer.deserialize(raw)
    except Exception:  # unsigned, foreign or damaged: the holder is unknown
        return None
    owner = value.get("owner") if isinstance(value, dict) else None
    return owner if isinstance(owner, str) else None


def held_locks(huey: Huey) -> list[HeldLock]:
    """Every lock the queue's store holds now, by name."""
    prefix = lock_prefix(huey)
    locks = []
    for key, value in huey.storage.result_items().items():
        if not key.startswith(prefix):
            continue
        raw = bytes(value)
        locks.append(HeldLock(key[len(prefix) :], key, _owner(huey, raw), raw))
    return sorted(locks, key=lambda lock: lock.name)


def release_if_unchanged(huey: Huey, lock: HeldLock) -> bool:
    """Delete ``lock`` only while it still holds the value read; True when it went.

    A lock released meanwhile and taken again by someone else is left alone.
    """
    storage = huey.storage
    if isinstance(storage, SqliteStorage):
        with storage.db(commit=True) as cursor:
            cursor.execute(
                "delete from kv where queue = ? and key = ? and value = ?",
                (storage.name, lock.key, storage.to_blob(lock.raw)),
            )
            return bool(cursor.rowcount == 1)
    if isinstance(storage, RedisStorage):
        delete = storage.conn.register_script(_REDIS_DELETE_IF_SAME)
        return bool(delete(keys=[storage.result_key], args=[lock.key, lock.raw]))
    raise NotImplementedError(f"cannot release locks in {type(storage).__name__}")


@contextmanager
def hold_lock(huey: Huey, name: str, owner: str) -> Iterator[HeldLock]:
    """Hold the Huey lock ``name`` for the block, recording ``owner`` (``host:pid``).

    Raises ``TaskLockedException`` when it is taken, as ``huey.lock_task`` does. Only a
    process that beats (a worker) should hold one: a lock whose owner has no live
    heartbeat counts as stale and may be flushed from the maintenance screen.
    """
    key = lock_prefix(huey) + name
    raw = huey.serializer.serialize({"owner": owner, "token": uuid.uuid4().hex})
    if not huey.storage.put_if_empty(key, raw):
        raise TaskLockedException(f"unable to acquire lock {name}")
    lock = HeldLock(name, key, owner, raw)
    try:
        yield lock
    finally:
        release_if_unchanged(huey, lock)


__all__ = ["HeldLock", "held_locks", "hold_lock", "lock_prefix", "release_if_unchanged"]
