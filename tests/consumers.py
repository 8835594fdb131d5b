"""Real deployments for queue tests: a database, a queue, a config file, consumer processes.

``deployment(kind, tmp_path)`` gives SQLite + SqliteHuey or PostgreSQL + Redis, with a
TOML config that consumers read through ``$WFCONSOLE_CONFIG``. ``ConsumerProcess`` starts
``huey_consumer engine.queue.huey -w N -k thread`` (or ``wfconsole worker -w N``) as a
child process; ``running_consumer`` always ends it, by its own pid, when the block ends.

Redis is ``$TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/11``). Each deployment
uses its own queue name and deletes its keys afterwards. When Redis is unreachable the
test is skipped, except under ``CI=true`` where it fails (as for PostgreSQL).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from engine.config import CONFIG_ENV, Settings, load_settings
from engine.db import Database, connect_database, open_database
from engine.workers.runtime import Queue
from tests.conftest import (
    copy_sqlite_file,
    migrated_postgres_template,
    migrated_sqlite_template,
    settings_for_url,
)
from tests.pg import fresh_postgres_url, in_ci

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
SWEEP_INTERVAL = 0.5
WORKFLOW_TIMEOUT = 5


def redis_test_url() -> str:
    """The Redis server tests use; skips (or fails under CI=true) when it is unreachable."""
    url = os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        message = f"Redis at {url} unavailable: {exc}"
        if in_ci():
            pytest.fail(f"{message} (CI=true: Redis is required)", pytrace=False)
        pytest.skip(message)
    return url


def _toml(sections: dict[str, dict[str, Any]]) -> str:
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in values.items())
        lines.append("")
    return "\n".join(lines)


@dataclass
class Deployment:
    """One backend pair as a user deploys it, plus the producer side's Queue."""

    kind: str  # "sqlite" (SQLite + SqliteHuey) or "postgres" (PostgreSQL + Redis)
    db: Database
    sections: dict[str, dict[str, Any]]
    config_path: Path
    settings: Settings = field(init=False)
    queue: Queue = field(init=False)

    def __post_init__(self) -> None:
        self.config_path.write_text(_toml(self.sections), encoding="utf-8")
        self.settings = load_settings(self.config_path)
        self.queue = Queue(self.settings, db=self.db)

    def variant(self, path: Path, **queue_overrides: Any) -> Settings:
        """Settings of this deployment with some queue keys changed (written to ``path``)."""
        sections = {name: dict(values) for name, values in self.sections.items()}
        sections["queue"].update(queue_overrides)
        path.write_text(_toml(sections), encoding="utf-8")
        return load_settings(path)


@contextmanager
def deployment(kind: str, tmp_path: Path, **workflow_settings: Any) -> Iterator[Deployment]:
    """A migrated database, a queue and a config file; Redis keys and databases are removed."""
    name = f"test_{uuid.uuid4().hex[:12]}"  # RedisHuey drops characters other than [A-Za-z0-9_]
    sections: dict[str, dict[str, Any]] = {
        "queue": {"name": name, "sweep_interval": SWEEP_INTERVAL, "concurrency": 4},
        "security": {"allow_private_targets": True},
        "workflow": {
            "default_timeout": WORKFLOW_TIMEOUT,
            "webhook_max_retries": 0,
            **workflow_settings,
        },
        "logging": {"level": "WARNING"},
        # Consumers run the daily cleanup after retention.cleanup_time: keep it from
        # deleting the old history a test seeds (tests call run_cleanup themselves).
        "retention": {"logs_days": 36500, "executions_days": 36500},
    }
    with ExitStack() as stack:
        # Copies of migrated templates: a migration per deployment cost up to a second.
        if kind == "sqlite":
            path = tmp_path / "wfconsole.db"
            if not path.exists():
                copy_sqlite_file(migrated_sqlite_template(), path)
            url = f"sqlite:///{path}"
            db = open_database(settings_for_url(url))  # migrates only a file not at head
            sections["queue"]["path"] = str(tmp_path / "queue.db")
        else:
            redis_url = redis_test_url()
            template = migrated_postgres_template()
            url = stack.enter_context(fresh_postgres_url("wf_queue", template=template))
            db = connect_database(settings_for_url(url))
            sections["queue"]["redis_url"] = redis_url
            stack.callback(_flush_redis, redis_url, name)
        stack.callback(db.dispose)
        sections = {"database": {"url": url}, **sections}
        yield Deployment(kind, db, sections, tmp_path / "wfconsole-test.toml")


def _flush_redis(url: str, queue_name: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        kinds = ("redis", "schedule", "results", "counters")
        client.delete(*[f"huey.{kind}.{queue_name}" for kind in kinds],
                      f"wfconsole:{queue_name}:queue-epoch")  # fmt: skip
    finally:
        client.close()


class ConsumerProcess:
    """A consumer child process; ``kill()`` is kill -9, ``stop()`` is a graceful SIGTERM."""

    def __init__(self, deployment: Deployment, log_path: Path, *, workers: int = 4,
                 kind: str = "huey") -> None:  # fmt: skip
        if kind == "huey":
            command = [
                sys.executable, "-m", "huey.bin.huey_consumer", "engine.queue.huey",
                "-w", str(workers), "-k", "thread",
            ]  # fmt: skip
            if deployment.kind == "sqlite":
                # Poll the SQLite queue every 20 ms, as `wfconsole worker` does, not back off.
                command += ["-d", "0.02", "-m", "0.02", "-b", "1.0"]
        else:
            command = [sys.executable, "-m", "wfconsole.cli", "worker", "-w", str(workers)]
        env = {**os.environ, CONFIG_ENV: str(deployment.config_path)}
        self.workers = workers
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to hand anything back."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(10)
        self._log.close()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL when it does not end within ``timeout``."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        """The end of the consumer's output, for assertion messages."""
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


@contextmanager
def running_consumer(deployment: Deployment, log_path: Path, **options: Any
                     ) -> Iterator[ConsumerProcess]:  # fmt: skip
    """A consumer for the block's duration; it is ended however the block ends."""
    consumer = ConsumerProcess(deployment, log_path, **options)
    try:
        yield consumer
    finally:
        consumer.stop()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
