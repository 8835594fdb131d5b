"""Forged queue messages never run code, and never stop a worker.

The attacker can write into the queue's store (Redis, or the SQLite queue file) but is
not a wfconsole process. Huey's default serializer unpickles, and the old wfconsole key
of a Redis deployment without configured keys was derived from the database URL, so a
signed pickle ran code on every consumer. Now messages are signed JSON carrying ids only:
each forged message here is dropped unread with one warning line per kind of problem,
the consumer stays up and still runs genuine executions, and the canary file a pickle
would create never appears. The generated key is random, stored once, and shared.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from huey.registry import Message
from huey.serializer import SignedSerializer

from engine.config import Settings
from engine.models import QueueSigningKey, table_of
from engine.queue import messages as qm
from engine.security import outbound
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow
from engine.workers.runtime import Queue
from tests import http_sink as sink_fixtures
from tests.consumers import (
    Deployment,
    deployment,
    redis_test_url,
    running_consumer,
    wait_until,
)
from tests.execution_support import execution_row, workflow_document
from tests.http_sink import HttpSink

http_sink = sink_fixtures.http_sink
KEYS = table_of(QueueSigningKey)
# The warning line of each kind of forged message, as the consumer logs it.
WARNINGS = {kind: text.split(" (")[0] for kind, text in qm._WARNINGS.items()}


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    outbound.close_clients()


class Canary:
    """Unpickling this creates ``path``: what an attacker's payload would do instead."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def pickled_message(canary: Path) -> Message:
    """A Huey message of our task whose argument runs code when unpickled."""
    return Message(str(uuid.uuid4()), qm.RUN_EXECUTION, None, 0, 0, None, (Canary(canary),), {})


def old_url_key(settings: Settings) -> str:
    """The key earlier versions derived from the database URL (no keys configured)."""
    return hashlib.sha256(b"wfconsole-queue-url:" + settings.database_url.encode()).hexdigest()


def real_key(deployed: Deployment) -> bytes:
    """The deployment's generated key, read where it is kept (an insider's knowledge)."""
    if deployed.kind == "sqlite":
        return Path(deployed.settings.queue.path).with_suffix(".key").read_bytes().strip()
    with deployed.db.engine.connect() as conn:
        return str(conn.execute(sa.select(KEYS.c.key)).scalar_one()).encode()


def envelope(key: bytes, body: bytes) -> bytes:
    """``body`` in the wire format, signed with ``key``."""
    return qm.PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest().encode() + b"." + body


def as_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


class Attacker:
    """Writes straight into the deployment's queue store, as someone with access to it."""

    def __init__(self, deployed: Deployment) -> None:
        self.deployed = deployed
        self.storage = deployed.queue.huey.storage
        self.name = deployed.settings.queue.name

    def push(self, data: bytes, copies: int = 3) -> None:
        """Onto the queue, ``copies`` times."""
        for _ in range(copies):
            self._write(
                "insert into task (queue, data, priority) values (?, ?, 0)",
                lambda client: client.lpush(self.storage.queue_key, data),
                data,
            )

    def schedule(self, data: bytes) -> None:
        """Into the schedule, due at once: the consumer's scheduler reads it."""
        self._write(
            "insert into schedule (queue, data, timestamp) values (?, ?, 0)",
            lambda client: client.zadd(self.storage.schedule_key, {data: 0}),
            data,
        )

    def _write(self, sqlite_sql: str, in_redis: Callable[[redis.Redis], Any], data: bytes) -> None:
        if self.deployed.kind == "sqlite":
            with sqlite3.connect(self.deployed.settings.queue.path) as conn:
                conn.execute(sqlite_sql, (self.name, data))
        else:
            client = redis.Redis.from_url(self.deployed.settings.queue.redis_url)
            in_redis(client)
            client.close()


def drained(deployed: Deployment) -> bool:
    huey = deployed.queue.huey
    return huey.pending_count() == 0 and huey.scheduled_count() == 0


@pytest.fixture(params=["sqlite", "postgres"])
def deployed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    with deployment(request.param, tmp_path) as deployed:
        yield deployed


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_forged_messages_run_no_code_and_the_consumer_keeps_working(
    deployed: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    save_document(deployed.db, workflow_document("genuine", [http_sink.url("/hook")]),
                  actor="tester")  # fmt: skip
    canary = tmp_path / "canary"
    attacker = Attacker(deployed)
    log_path = tmp_path / "consumer.log"

    def genuine_run_succeeds() -> None:
        [execution_id] = run_workflow(deployed.db, deployed.queue, "genuine", actor="tester")
        assert wait_until(
            lambda: execution_row(deployed.db, execution_id).status == "SUCCESS", 30
        ), consumer.log_tail()

    def survived(what: str) -> None:
        assert wait_until(lambda: drained(deployed), 30), consumer.log_tail()
        genuine_run_succeeds()  # queued after the forged ones: they were read before it
        time.sleep(0.2)
        assert not canary.exists(), f"{what} ran code:\n{consumer.log_tail()}"
        assert consumer.alive(), consumer.log_tail()

    with running_consumer(deployed, log_path) as consumer:
        genuine_run_succeeds()

        # (a) A pickle signed as earlier versions signed with the URL-derived key.
        attacker.push(SignedSerializer(secret=old_url_key(deployed.settings), salt="wfconsole")
                      .serialize(pickled_message(canary)))  # fmt: skip
        survived("a pickle signed with the URL-derived key")

        # (b) The same pickle signed with the deployment's real key: as Huey signs it, and
        # even in our own envelope with a valid signature. The scheduler gets one too.
        key = real_key(deployed)
        pickled = pickle.dumps(pickled_message(canary))
        attacker.push(SignedSerializer(secret=key, salt="wfconsole")
                      .serialize(pickled_message(canary)))  # fmt: skip
        attacker.push(envelope(key, pickled))
        attacker.schedule(SignedSerializer(secret=key, salt="wfconsole")
                          .serialize(pickled_message(canary)))  # fmt: skip
        survived("a pickle signed with the real key")

        # (c) Our JSON format, with a bad signature.
        body = as_json({"task": qm.RUN_EXECUTION, "id": str(uuid.uuid4()), "args": ["x"]})
        attacker.push(envelope(b"guessed-" + key, body))
        attacker.push(qm.PREFIX + b"0" * 64 + b"." + body)
        survived("JSON with a bad signature")

        # (d) Signed JSON naming another task, or our task with other arguments.
        for forged in (
            {"task": "os.system", "id": "1", "args": [f"touch {canary}"]},
            {"task": "builtins.open", "id": "1", "args": [str(canary), "w"]},
            {"task": qm.RUN_EXECUTION, "id": "1", "args": [{"py/object": "os.system"}]},
            {"task": qm.RUN_EXECUTION, "id": "1", "args": [1]},
            {"task": qm.RUN_EXECUTIONS, "id": "1", "args": [["ok", 2]]},
            {"task": qm.RUN_EXECUTION, "id": "1", "args": ["x"], "kwargs": {"a": 1}},
            {"task": qm.RUN_EXECUTION, "id": "1", "args": ["x"], "on_complete": {}},
        ):
            attacker.push(envelope(key, as_json(forged)), copies=1)
        survived("signed JSON naming another task or other arguments")

    log = log_path.read_text(encoding="utf-8", errors="replace")
    for kind in (qm.UNSIGNED, qm.MALFORMED, qm.BAD_SIGNATURE, qm.REFUSED):
        assert log.count(WARNINGS[kind]) == 1, f"{kind}:\n{log}"
    assert "Traceback" not in log, log
    assert "Unable to deserialize" not in log and "Error reading" not in log, log


def test_forged_messages_are_dropped_in_process_with_one_warning_per_kind(
    sqlite_db: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(qm, "_warned", set())
    settings = Settings.model_validate(
        {"database": {"url": str(sqlite_db.url)}, "queue": {"path": str(tmp_path / "q.db")}}
    )
    queue = Queue(settings, db=sqlite_db)
    huey = queue.huey
    key = (tmp_path / "q.key").read_bytes().strip()
    canary = tmp_path / "canary"
    forged = [
        pickle.dumps(pickled_message(canary)),
        envelope(key, pickle.dumps(pickled_message(canary))),
        envelope(b"other", as_json({"task": qm.RUN_EXECUTION, "id": "1", "args": ["x"]})),
        envelope(key, as_json({"task": "os.system", "id": "1", "args": ["true"]})),
        envelope(key, as_json({"value": "1"})),  # a lock's value is no task
    ]
    for data in forged * 3:
        huey.storage.enqueue(data)
    queue.dispatch("genuine-id")
    before = qm.DROPPED.copy()

    with caplog.at_level("WARNING", logger="wfconsole.queue"):
        task = huey.dequeue()  # skips every forged message, in one call

    assert task is not None and task.args == ("genuine-id",)
    assert huey.dequeue() is None
    assert not canary.exists()
    dropped = qm.DROPPED - before
    assert dropped == {qm.UNSIGNED: 3, qm.MALFORMED: 3, qm.BAD_SIGNATURE: 3, qm.REFUSED: 6}
    warnings = [r.getMessage() for r in caplog.records if r.name == "wfconsole.queue"]
    assert sorted(w.split(" (")[0] for w in warnings) == sorted(WARNINGS.values())


def test_messages_are_json_and_round_trip_without_pickle(
    sqlite_db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.model_validate(
        {"database": {"url": str(sqlite_db.url)}, "queue": {"path": str(tmp_path / "q.db")}}
    )
    queue = Queue(settings, db=sqlite_db)
    huey = queue.huey

    def no_pickle(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("pickle used on the queue path")

    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "dumps", no_pickle)
    queue.dispatch("one")
    queue.dispatch("later", delay=30)
    queue.run_executions(["a", "b"])
    raw = huey.storage.enqueued_items()
    assert all(r.startswith(b"wf1.") for r in raw)
    bodies = [json.loads(bytes(r)[len(qm.PREFIX) + 65 :]) for r in raw]
    assert [b["args"] for b in bodies] == [["one"], ["later"], [["a", "b"]]]
    assert "eta" in bodies[1]
    tasks = huey.pending()
    assert [t.args for t in tasks] == [("one",), ("later",), (["a", "b"],)]
    assert tasks[1].eta is not None and tasks[0].eta is None
    with pytest.raises(ValueError, match="only run_execution"):
        queue.run_execution(42)  # what a worker would refuse is never sent
    with pytest.raises(ValueError, match="only run_execution"):
        queue.run_executions(["a", None])


_KEY_OF_A_NEW_PROCESS = """
import sys, time
from pathlib import Path
from engine.config import load_settings
from engine.queue.instance import signing_key
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
print(signing_key(load_settings(sys.argv[1])).hex())
"""


def keys_of_processes_started_together(deployed: Deployment, tmp_path: Path, count: int
                                       ) -> list[str]:  # fmt: skip
    go = tmp_path / f"go-{uuid.uuid4().hex}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _KEY_OF_A_NEW_PROCESS, str(deployed.config_path), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    time.sleep(1.5)  # let them all import and wait at the line
    go.touch()
    keys = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        keys.append(bytes.fromhex(out.strip()).decode())
    return keys


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_processes_of_a_deployment_agree_on_one_random_key_not_derived_from_the_url(
    deployed: Deployment, tmp_path: Path
) -> None:
    keys = keys_of_processes_started_together(deployed, tmp_path, 3)

    assert len(set(keys)) == 1, keys
    [key] = set(keys)
    assert key.encode() == real_key(deployed)  # the stored one
    assert len(key) == 64 and key != old_url_key(deployed.settings)
    assert key not in deployed.settings.database_url
    # Same database URL, key generated again: another key, so not a function of the URL.
    if deployed.kind == "sqlite":
        Path(deployed.settings.queue.path).with_suffix(".key").unlink()
    else:
        with deployed.db.engine.begin() as conn:
            conn.execute(sa.delete(KEYS))
    [again] = set(keys_of_processes_started_together(deployed, tmp_path, 2))
    assert again != key and again.encode() == real_key(deployed)


def test_a_configured_signing_key_wins_and_the_stored_key_is_read_once(
    deployed: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = deployed.variant(tmp_path / "configured.toml", signing_key="my own key")
    huey = Queue(configured, db=deployed.db).huey
    message = huey.serializer.serialize({"owner": "me"})
    assert message == envelope(b"my own key", b'{"value":{"owner":"me"}}')

    reads: list[object] = []
    original = qm.stored_signing_key

    def counted(db: Any) -> bytes:
        reads.append(db)
        return original(db)

    monkeypatch.setattr("engine.queue.instance.stored_signing_key", counted)
    queue = Queue(deployed.settings, db=deployed.db)
    for n in range(20):
        queue.dispatch(f"id-{n}")
    assert len(queue.huey.pending()) == 20
    assert len(reads) == (0 if deployed.kind == "sqlite" else 1)


def test_messages_stay_queued_while_the_stored_key_cannot_be_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis up, database down: a worker takes nothing it could not check, and says so once."""
    redis_url = redis_test_url()
    monkeypatch.setattr(qm, "_warned", set())
    monkeypatch.setattr(qm, "KEY_RETRY_SECONDS", 0.01)
    name = f"test_{uuid.uuid4().hex[:12]}"
    settings = Settings.model_validate({
        "database": {"url": "postgresql://postgres@127.0.0.1:1/unreachable"},
        "queue": {"redis_url": redis_url, "name": name},
    })  # fmt: skip
    huey = Queue(settings).huey
    try:
        huey.storage.enqueue(b"wf1.whatever")
        with caplog.at_level("WARNING"):
            for _ in range(5):
                assert huey.dequeue() is None
                assert huey.read_schedule() == []
        assert huey.pending_count() == 1  # still there for when the key can be read
        key_lines = [r for r in caplog.records if "signing key can be read" in r.getMessage()]
        assert len(key_lines) == 1
    finally:
        huey.storage.flush_queue()
