"""Private Redis and PostgreSQL servers that a chaos test may stop, kill and restart.

The shared servers on 6379 and 5432 belong to everyone's tests and are never touched:
these run on free loopback ports with their data in a temporary folder. PostgreSQL runs
as the ``postgres`` OS user (``initdb`` refuses root), so the test process must be root
(``su postgres``); otherwise the test is skipped, or fails under ``CI=true``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import redis

from tests.pg import in_ci

PG_BIN = Path(os.environ.get("TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under CI=true, where every chaos test must run."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the chaos suite must run)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()  # type: ignore[operator]
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not come up in {timeout:.0f} s: {exc}") from exc
            time.sleep(0.05)


class PrivateRedis:
    """``redis-server`` without persistence: a restart loses every key, as a crash would."""

    def __init__(self, folder: Path) -> None:
        if shutil.which("redis-server") is None:
            unavailable("redis-server is not installed")
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.folder),
        ]  # fmt: skip
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        _wait_for(self._ping, 10, f"redis-server on port {self.port}")

    def _ping(self) -> None:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            client.ping()
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: the server and everything it held are gone."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def restart(self, down_for: float) -> None:
        """Kill the server, stay down ``down_for`` seconds, start an empty one."""
        self.kill()
        time.sleep(down_for)
        self.start()


@contextmanager
def private_redis(folder: Path) -> Iterator[PrivateRedis]:
    """A running private Redis, killed when the block ends."""
    server = PrivateRedis(folder)
    server.start()
    try:
        yield server
    finally:
        server.kill()


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (fsync off) on a free port, owned by ``postgres``."""

    def __init__(self) -> None:
        if os.geteuid() != 0:
            unavailable("a private PostgreSQL needs root (to run initdb as the postgres user)")
        if not (PG_BIN / "initdb").exists() or shutil.which("su") is None:
            unavailable(f"PostgreSQL server binaries not found in {PG_BIN}")
        self.folder = Path(tempfile.mkdtemp(prefix="wf-chaos-pg-"))
        shutil.chown(self.folder, PG_USER)
        self.data = self.folder / "data"
        self.port = free_port()
        self.admin_url = f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: str, timeout: float = 120) -> None:
        line = " ".join(shlex.quote(part) for part in command)
        result = subprocess.run(
            ["su", PG_USER, "-s", "/bin/sh", "-c", line],
            capture_output=True, text=True, timeout=timeout, cwd=self.folder,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stderr.strip() or result.stdout}")

    def init(self) -> None:
        """initdb (a few seconds), then start."""
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", PG_USER, "--auth=trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        self.start()

    def start(self) -> None:
        """Start the cluster and wait until it accepts connections."""
        options = (
            # fsync=off is safe here: a crash-stop ends the server, not the OS, so the
            # page cache keeps every write. synchronous_commit stays on: a commit it
            # acknowledged must survive the crash, as on a real server.
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"
        )
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.folder / "postgres.log"), "-w", "-t", "60", "start",
        )  # fmt: skip
        _wait_for(self._connect, 30, f"PostgreSQL on port {self.port}")

    def _connect(self) -> None:
        psycopg.connect(self.admin_url, connect_timeout=2).close()

    def stop(self, mode: str = "immediate") -> None:
        """``pg_ctl stop -m immediate``: every backend ends at once, like a crash."""
        if (self.data / "postmaster.pid").exists():
            self._as_postgres(
                str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"
            )

    def restart(self, down_for: float) -> None:
        """Crash-stop, stay down ``down_for`` seconds, start again (crash recovery runs)."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        """Stop the cluster and delete its folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """An initialised, running private cluster, stopped and deleted when the block ends."""
    server = PrivatePostgres()
    try:
        server.init()
        yield server
    finally:
        server.remove()
