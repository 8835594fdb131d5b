"""The Huey instance of a deployment: RedisHuey or SqliteHuey, signing JSON messages.

Messages carry only execution ids, as HMAC-signed JSON (engine/queue/messages.py):
nothing on the queue path unpickles. The key is ``queue.signing_key`` when configured,
otherwise random and generated once: in the database for a Redis queue (every process
of the deployment reads it there), in a 0600 file beside the local SQLite queue file.
It is never derived from the database URL or from ``ENCRYPTION_KEY``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import Huey

from engine.config import Settings
from engine.db import Database, open_database
from engine.process_exit import close_at_exit
from engine.queue.messages import (
    GuardedRedisHuey,
    GuardedSqliteHuey,
    QueueSerializer,
    stored_signing_key,
)
from engine.security.private_files import ensure_private_dir, ensure_private_sqlite


def signing_key(settings: Settings, database: Callable[[], Database] | None = None) -> bytes:
    """The message-signing key: ``queue.signing_key`` when configured; otherwise random.

    The random key is kept where every process of the queue already reads: for the local
    SQLite queue a 0600 file beside the queue file, for a Redis queue the deployment's
    database (read through ``database``, default: the configured database opened just for
    that). It is never derived from a URL or from ``ENCRYPTION_KEY``.
    """
    configured = settings.queue.signing_key.get_secret_value()
    if configured:
        return configured.encode()
    if not settings.uses_redis:
        return _local_key(settings.queue_path.with_suffix(".key")).encode()
    if database is not None:
        return stored_signing_key(database())
    db = open_database(settings)
    try:
        return stored_signing_key(db)
    finally:
        db.dispose()


def _local_key(path: Path) -> str:
    """The local queue's generated key, created once (0600) when the file is missing.

    The key is written to a private temporary file and hard-linked into place, so nobody
    reads it half-written and processes creating it at once agree: a link that finds the
    file there already leaves the other process's key in place, and that one is read.
    """
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        ensure_private_dir(path.parent)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(os.urandom(32).hex())
            with contextlib.suppress(FileExistsError):  # another process was first
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
        key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"the queue signing key file {path} is empty: delete it")
    return key


def quiet_per_message_lines() -> None:
    """Raise the ``huey`` logger to WARNING at consumer start, unless it is at DEBUG.

    Huey writes two INFO lines per message on that logger ("Executing …", "… executed in
    …"): at hundreds of messages a second, building those records costs the consumer more
    CPU than claiming does, and they say nothing the execution's own log does not. A level
    stops them before any record is built (a filter only drops them afterwards). The
    consumer's own lines (``huey.consumer``: start, stop, workers) keep the level they had,
    ``huey_consumer -v`` (DEBUG) shows everything as before, and the ``wfconsole.*``
    loggers are not touched. Run as a startup hook: ``huey_consumer`` sets the ``huey``
    logger's level after importing the queue, so a level set at import would not hold.
    """
    huey_log = logging.getLogger("huey")
    level = huey_log.getEffectiveLevel()
    if level <= logging.DEBUG or level >= logging.WARNING:
        return
    consumer_log = logging.getLogger("huey.consumer")
    if consumer_log.level == logging.NOTSET:
        consumer_log.setLevel(level)
    huey_log.setLevel(logging.WARNING)


def make_huey(settings: Settings, database: Callable[[], Database] | None = None) -> Huey:
    """A RedisHuey when ``queue.redis_url`` is set, otherwise a SqliteHuey file.

    Both sign their messages as JSON (engine/queue/messages.py) with ``signing_key``. A
    Redis queue without a configured key reads the key stored in the database at its
    first message (once per process), so building a queue never needs the database.
    """
    if settings.uses_redis and not settings.queue.signing_key.get_secret_value():
        serializer = QueueSerializer(load_key=lambda: signing_key(settings, database))
    else:
        serializer = QueueSerializer(signing_key(settings))
    name = settings.queue.name
    if settings.uses_redis:
        params: dict[str, Any] = {}
        password = settings.queue.redis_password.get_secret_value()
        if password:
            params["password"] = password
        huey: Huey = GuardedRedisHuey(
            name,
            url=settings.queue.redis_url,
            results=False,
            serializer=serializer,
            blocking=True,
            read_timeout=1,
            **params,
        )
    else:
        path = ensure_private_sqlite(settings.queue_path)  # 0600, so its -wal/-shm are too
        huey = GuardedSqliteHuey(name, filename=str(path), results=False, serializer=serializer)
        close_at_exit(huey.storage)  # its WAL checkpointed and removed, whatever keeps it
    huey.on_startup(name="wfconsole_quiet_per_message")(quiet_per_message_lines)
    return huey


def queue_epoch_key(settings: Settings) -> str:
    """The Redis key that is there as long as the queue's messages are (see
    ``queue_was_emptied``)."""
    return f"wfconsole:{settings.queue.name}:queue-epoch"


def queue_was_emptied(huey: Huey, settings: Settings) -> bool:
    """Whether the queue may have lost its messages since the last call: Redis restarted
    without persistence, or was flushed (a marker key set at the first call is gone).

    True at the first call of a new Redis too. Never for the local queue (a file). One
    round trip; a Redis that cannot be reached says False (nothing is known).
    """
    from huey.storage import RedisStorage

    storage = huey.storage
    if not isinstance(storage, RedisStorage):
        return False
    try:
        return bool(storage.conn.set(queue_epoch_key(settings), b"1", nx=True))
    except Exception:  # unreachable: the sweep goes on; the next call tells
        return False
