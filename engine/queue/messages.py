"""Queue messages as signed JSON: what a worker accepts from Redis or the SQLite queue file.

Huey pickles its messages by default, and unpickling runs code: whoever can write into
the queue's store could run code on every consumer. A wfconsole message only says "look
at execution X", so it travels as JSON, signed, and nothing on the queue path unpickles:

    wf1.<hex HMAC-SHA256(key, body)>.<body: compact JSON>

The signature is checked (``hmac.compare_digest``) before the body is parsed; a signed
body must then be one of our two tasks with id arguments, ``run_execution("<id>")`` or
``run_executions(["<id>", …])``, without pipelines, callbacks or keyword arguments. Huey's
other stored values (task locks, ``engine.queue.locks``' holder records) are signed JSON
values the same way.

Anything else (a pickle, a bad signature, another task, other arguments) is dropped by
``GuardedRedisHuey`` / ``GuardedSqliteHuey``: one warning line per kind of problem per
process, and the worker carries on with the next message. Dropping loses nothing: the
database is the source of truth and the sweeper re-enqueues PENDING rows nobody picked up
(so messages of the pickled format written before an upgrade are replaced the same way).

The key (``engine.queue.instance.signing_key``) is ``queue.signing_key`` when configured;
otherwise random, generated once, and kept where every process of the queue already
reads: for a Redis queue in the deployment's database (table ``queue_signing_key``,
``stored_signing_key``: insert-if-absent then read back, so processes starting together
agree), read once per process at the first message and again at most every
``RELOAD_SECONDS`` when a signature does not match (a database restored from a backup
brings its own key); for the local SQLite queue in a 0600 file beside the queue file. It
is never derived from a URL or from another setting.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from huey import RedisHuey, SqliteHuey
from huey.exceptions import HueyException
from huey.registry import Message
from huey.serializer import Serializer
from huey.storage import RedisStorage
from huey.utils import utcnow as huey_utcnow
from sqlalchemy.dialects import postgresql, sqlite

from engine.db import Database

log = logging.getLogger("wfconsole.queue")

PREFIX = b"wf1."
_SIGNATURE_LENGTH = 64  # hex SHA-256
_BODY_AT = len(PREFIX) + _SIGNATURE_LENGTH + 1
RELOAD_SECONDS = 30.0
"""A bad signature re-reads the stored key at most this often (a restored database)."""
KEY_RETRY_SECONDS = 1.0
"""A worker that cannot read the key yet (database down) waits this long per attempt."""
DRAIN_LIMIT = 1000
"""Dropped messages one ``dequeue`` call skips before it lets the worker loop turn."""
MAX_ID_LENGTH = 64
MAX_BATCH = 256  # queue.batch_size's upper bound

RUN_EXECUTION = "engine.workers.runtime.run_execution"
RUN_EXECUTIONS = "engine.workers.runtime.run_executions"
"""Huey's names of the two tasks ``engine.workers.runtime.Queue`` registers."""


def _one_id(args: Sequence[Any]) -> bool:
    return len(args) == 1 and _is_id(args[0])


def _ids(args: Sequence[Any]) -> bool:
    if len(args) != 1 or type(args[0]) not in (list, tuple) or not 0 < len(args[0]) <= MAX_BATCH:
        return False
    ids = args[0]  # checked with C-level loops: this runs for every message
    lengths = list(map(len, ids)) if set(map(type, ids)) == {str} else [0]
    return min(lengths) > 0 and max(lengths) <= MAX_ID_LENGTH


def _is_id(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= MAX_ID_LENGTH


TASKS: dict[str, Callable[[Sequence[Any]], bool]] = {
    RUN_EXECUTION: _one_id,
    RUN_EXECUTIONS: _ids,
}
"""The only tasks a message may name, with the check of their arguments."""

_TASK_FIELDS = frozenset(
    {"task", "id", "args", "eta", "retries", "retry_delay", "retry_backoff", "priority", "timeout"}
)


class RefusedMessage(ValueError):
    """A stored message or value that is not signed JSON of ours; ``kind`` says why."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


UNSIGNED, BAD_SIGNATURE, MALFORMED, REFUSED = "unsigned", "bad-signature", "malformed", "refused"
_WARNINGS = {
    UNSIGNED: "dropped a queue message that is not wfconsole's signed JSON (a pickled message"
    " from an older version, or one written by someone else)",
    BAD_SIGNATURE: "dropped a queue message with a bad signature (written without this"
    " deployment's queue signing key)",
    MALFORMED: "dropped a signed queue message that is not a valid JSON message",
    REFUSED: "dropped a signed queue message naming another task or other arguments (only"
    " run_execution / run_executions with execution ids run)",
}

DROPPED: Counter[str] = Counter()
"""Messages this process dropped, by kind."""
_warned: set[str] = set()
_warn_lock = threading.Lock()


def warn_once(kind: str, message: str, *args: Any) -> None:
    """Log ``message`` as a warning the first time ``kind`` happens in this process."""
    with _warn_lock:
        if kind in _warned:
            return
        _warned.add(kind)
    log.warning(message + " (logged once per process)", *args)


def stored_signing_key(db: Database) -> bytes:
    """The deployment's generated key: the stored one, created first when there is none.

    Two processes creating it at once both insert-if-absent and read back: they agree.
    """
    from engine.models import QueueSigningKey, table_of, utcnow  # only a Redis queue asks

    table = table_of(QueueSigningKey)
    read = sa.select(table.c.key).where(table.c.id == 1)
    with db.primary_read_engine.connect() as conn:
        key = conn.execute(read).scalar()
    if key is None:
        dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        insert = (
            dialect.insert(table)
            .values(id=1, key=secrets.token_hex(32), created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["id"])
        )
        with db.engine.begin() as conn:
            conn.execute(insert)
            key = conn.execute(read).scalar_one()
    return str(key).encode()


class QueueSerializer(Serializer):
    """Huey's serializer for wfconsole: signed JSON both ways, never pickle.

    ``key`` is a configured key; ``load_key`` reads the deployment's stored key, on first
    use (so building a queue never needs the database).
    """

    def __init__(
        self, key: bytes | None = None, *, load_key: Callable[[], bytes] | None = None
    ) -> None:
        super().__init__()
        if not key and load_key is None:
            raise ValueError("a queue serializer needs a key or a way to load one")
        self._load_key = None if key else load_key
        self._lock = threading.Lock()
        self._key = key or None
        self._loaded_at = time.monotonic()

    # --- the key ------------------------------------------------------------------------

    def ready(self) -> None:
        """Read the key now when not read yet (raises what reading it raises)."""
        self._current_key()

    def _current_key(self) -> bytes:
        key = self._key
        if key is None:
            with self._lock:
                if self._key is None:
                    assert self._load_key is not None
                    self._key = self._load_key()
                    self._loaded_at = time.monotonic()
                key = self._key
        return key

    def _signature(self, body: bytes) -> bytes:
        return hmac.new(self._current_key(), body, hashlib.sha256).hexdigest().encode()

    def _verified(self, signature: bytes, body: bytes) -> bool:
        if hmac.compare_digest(signature, self._signature(body)):
            return True
        if self._load_key is None or time.monotonic() - self._loaded_at < RELOAD_SECONDS:
            return False
        with self._lock:  # the stored key may have changed (a restored backup): look again
            if time.monotonic() - self._loaded_at >= RELOAD_SECONDS:  # not just done by another
                self._loaded_at = time.monotonic()
                try:
                    self._key = self._load_key()
                except Exception:  # keep the key we have; try again RELOAD_SECONDS later
                    return False
        return hmac.compare_digest(signature, self._signature(body))

    # --- Huey's extension points --------------------------------------------------------

    def _serialize(self, data: Any) -> bytes:
        body = _task_body(data) if isinstance(data, Message) else {"value": data}
        encoded = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
        return PREFIX + self._signature(encoded) + b"." + encoded

    def _deserialize(self, data: Any) -> Any:
        body = self._verified_body(data)
        if "task" in body:
            return _task_from(body)
        if body.keys() == {"value"}:
            return body["value"]
        raise RefusedMessage(REFUSED, "neither a task nor a value")

    def load_task(self, data: Any) -> Message:
        """The task message in ``data``; RefusedMessage for anything else."""
        body = self._verified_body(data)
        if "task" not in body:
            raise RefusedMessage(REFUSED, "not a task message")
        return _task_from(body)

    def _verified_body(self, data: Any) -> dict[str, Any]:
        raw = bytes(data) if isinstance(data, bytes | bytearray | memoryview) else None
        if raw is None and isinstance(data, str):
            raw = data.encode("utf-8", "replace")
        if raw is None or not raw.startswith(PREFIX) or raw[_BODY_AT - 1 : _BODY_AT] != b".":
            raise RefusedMessage(UNSIGNED, "not signed JSON")
        body = raw[_BODY_AT:]
        if not self._verified(raw[len(PREFIX) : _BODY_AT - 1], body):
            raise RefusedMessage(BAD_SIGNATURE, "bad signature")
        try:
            parsed = json.loads(body)
        except ValueError:
            raise RefusedMessage(MALFORMED, "signed, but not JSON") from None
        if not isinstance(parsed, dict):
            raise RefusedMessage(MALFORMED, "signed, but not a JSON object")
        return parsed


def _task_body(message: Message) -> dict[str, Any]:
    """The JSON of a task message, refusing (as a worker would) what is not ours."""
    check = TASKS.get(message.name)
    if check is None or not isinstance(message.args, list | tuple) or not check(message.args):
        raise ValueError(
            f"queue messages carry only run_execution / run_executions with execution ids,"
            f" not {message.name}{message.args!r:.80}"
        )
    extras = (message.kwargs, message.on_complete, message.on_error, message.chord_config,
              message.expires, message.expires_resolved)  # fmt: skip
    if any(extras):
        raise ValueError("queue messages carry no kwargs, pipelines, chords or expiry")
    body: dict[str, Any] = {"task": message.name, "id": message.id, "args": list(message.args)}
    if message.eta is not None:
        body["eta"] = message.eta.isoformat()
    for name in ("retries", "retry_delay", "retry_backoff", "priority", "timeout"):
        value = getattr(message, name)
        if value:
            body[name] = value
    return body


def _number(body: dict[str, Any], name: str, *, integer: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        return None
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if type(value) not in kinds or not 0 <= value <= 1e9:
        raise RefusedMessage(REFUSED, f"bad {name}")
    return value


def _task_from(body: dict[str, Any]) -> Message:
    """A Huey message from a signed body, refusing whatever is not exactly ours."""
    name, args, task_id = body.get("task"), body.get("args"), body.get("id")
    check = TASKS.get(name) if isinstance(name, str) else None
    if (
        check is None
        or not body.keys() <= _TASK_FIELDS
        or not isinstance(args, list)
        or not check(args)
        or not _is_id(task_id)
    ):
        raise RefusedMessage(REFUSED, "not one of our tasks with id arguments")
    eta = body.get("eta")
    if eta is not None:
        try:
            eta = datetime.fromisoformat(eta) if isinstance(eta, str) else None
        except ValueError:
            eta = None
        if eta is None:
            raise RefusedMessage(REFUSED, "bad eta")
    return Message(
        id=task_id,
        name=name,
        eta=eta,
        retries=_number(body, "retries", integer=True) or 0,
        retry_delay=_number(body, "retry_delay") or 0,
        priority=_number(body, "priority", integer=True),
        args=tuple(args),
        kwargs={},
        timeout=_number(body, "timeout"),
        retry_backoff=_number(body, "retry_backoff") or 0,
    )


_SHORT_NAMES = {name.rpartition(".")[2]: name for name in TASKS}


def _ids_of(task: Any) -> list[str]:
    """The execution ids a (loaded, checked) task names."""
    argument = task.args[0]
    return [argument] if isinstance(argument, str) else list(argument)


def _ids_message(task_id: str, ids: list[str]) -> Message:
    """A ``run_executions`` message naming ``ids``."""
    return Message(id=task_id, name=RUN_EXECUTIONS, eta=None, retries=0, retry_delay=0,
                   priority=None, args=(ids,), kwargs={}, timeout=None,
                   retry_backoff=0)  # fmt: skip


class _Guarded:
    """What our Huey classes add: refused messages are dropped and logged once.

    Huey's own handling would log a traceback for every one (and, in a worker, sleep
    with back-off after each): a flood of forged messages must neither fill the log
    nor slow the workers down.
    """

    serializer: QueueSerializer
    storage: Any
    utc: bool

    def _load(self, data: Any) -> Any:
        try:
            # Huey's own deserialize_task: our serializer verifies and parses the message.
            return self.deserialize_task(data)  # type: ignore[attr-defined]
        except RefusedMessage as exc:
            kind = exc.kind
        # A task this process did not register, or a signed value that is not a task.
        except (HueyException, AttributeError, TypeError):
            kind = REFUSED
        DROPPED[kind] += 1
        warn_once(kind, _WARNINGS[kind])
        return None

    def _load_all(self, items: Sequence[Any]) -> list[Any]:
        return [task for task in map(self._load, items) if task is not None]

    def _key_ready(self, *, wait: bool) -> bool:
        """Whether the key is at hand; messages stay stored until it is."""
        try:
            self.serializer.ready()
        except Exception as exc:
            first = str(exc).strip().splitlines()
            warn_once("key", "queue messages wait until the queue signing key can be read: %s",
                      first[0] if first else type(exc).__name__)  # fmt: skip
            if wait:  # a worker would otherwise spin on a blocking queue
                time.sleep(KEY_RETRY_SECONDS)
            return False
        return True

    merge_up_to: int = 0
    """``dequeue`` merges waiting messages into one task until it names this many ids
    (``queue.batch_size``; 0: one message per task)."""

    def dequeue(self) -> Any:
        if not self._key_ready(wait=True):
            return None
        for _ in range(DRAIN_LIMIT):
            data = self.storage.dequeue()
            if data is None:
                return None
            task = self._load(data)
            if task is not None:
                return self._merged(task)
        return None

    def _merged(self, task: Any) -> Any:
        """``task`` with the ids of the messages waiting behind it, as one
        ``run_executions`` task: after the blocking pop, up to ``merge_up_to`` minus its ids
        more messages in one round trip, without waiting. Their executions are then claimed,
        run and committed as one batch instead of one claim each. Nothing is lost: the
        messages only name rows that the database holds, and a worker that dies holding
        them leaves those rows PENDING for the sweeper, as with one message.

        A popped message may name several ids: what goes past ``merge_up_to`` ids goes
        back to the head of the queue, so a task never names more executions than one
        worker thread may hold."""
        if task.name not in _SHORT_NAMES:
            return task
        ids = _ids_of(task)
        room = self.merge_up_to - len(ids)
        if room <= 0:
            return task
        more = self._load_all(self._pop(room))
        if not more:
            return task
        for other in more:
            ids.extend(_ids_of(other))
        ids = list(dict.fromkeys(ids))
        ids, over = ids[: self.merge_up_to], ids[self.merge_up_to :]
        if over:
            self._put_back(over)
        return self._registry.create_task(_ids_message(task.id, ids))  # type: ignore[attr-defined]

    def _put_back(self, ids: list[str]) -> None:
        """Ids popped past the merge limit, back at the head of the queue (one round trip)
        as messages of at most ``merge_up_to`` ids, in their order."""
        size = self.merge_up_to
        data = [
            self.serializer.serialize(_ids_message(secrets.token_hex(16), ids[at : at + size]))
            for at in range(0, len(ids), size)
        ]
        storage = self.storage
        if isinstance(storage, RedisStorage):
            # dequeue pops from this end: the first chunk goes in last, to be popped first
            storage.conn.rpush(storage.queue_key, *reversed(data))
        else:
            for item in data:
                storage.enqueue(item)

    def _pop(self, count: int) -> list[Any]:
        """Up to ``count`` more stored messages, without waiting (one Redis round trip)."""
        storage = self.storage
        if isinstance(storage, RedisStorage):
            pipe = storage.conn.pipeline(transaction=False)
            for _ in range(count):
                pipe.rpop(storage.queue_key)
            return [data for data in pipe.execute() if data is not None]
        popped = []
        for _ in range(count):
            data = storage.dequeue()
            if data is None:
                break
            popped.append(data)
        return popped

    # Our two tasks are never revoked (nothing in wfconsole revokes a Huey task: a message
    # only says "look at execution X", and cancelling is the database's business), so a
    # worker skips Huey's revocation look-up before running one and the clean-up of its
    # revocation key after: two Redis round trips per message.
    _running_ours = threading.local()

    def is_revoked(self, task: Any, timestamp: datetime | None = None, peek: bool = True) -> bool:
        if getattr(task, "name", None) in _SHORT_NAMES:
            return False
        return bool(super().is_revoked(task, timestamp, peek))  # type: ignore[misc]

    def _execute(self, task: Any, timestamp: datetime | None) -> Any:
        ours = getattr(task, "name", None) in _SHORT_NAMES
        self._running_ours.revoke_id = task.revoke_id if ours else None
        try:
            return super()._execute(task, timestamp)  # type: ignore[misc]
        finally:
            self._running_ours.revoke_id = None

    def delete(self, key: str) -> Any:
        if key is not None and key == getattr(self._running_ours, "revoke_id", None):
            return None  # the revocation key of our task in flight: never written
        return super().delete(key)  # type: ignore[misc]

    def read_schedule(self, timestamp: datetime | None = None) -> list[Any]:
        if not self._key_ready(wait=False):
            return []
        if timestamp is None:
            timestamp = huey_utcnow() if self.utc else datetime.now()
        return self._load_all(self.storage.read_schedule(timestamp))

    def pending(self, limit: int | None = None) -> list[Any]:
        return self._load_all(self.storage.enqueued_items(limit))

    def scheduled(self, limit: int | None = None) -> list[Any]:
        return self._load_all(self.storage.scheduled_items(limit))


class GuardedRedisHuey(_Guarded, RedisHuey):
    """``RedisHuey`` that drops refused messages (see ``_Guarded``)."""


class GuardedSqliteHuey(_Guarded, SqliteHuey):
    """``SqliteHuey`` that drops refused messages (see ``_Guarded``)."""


__all__ = [
    "DROPPED",
    "GuardedRedisHuey",
    "GuardedSqliteHuey",
    "QueueSerializer",
    "RefusedMessage",
    "stored_signing_key",
]
