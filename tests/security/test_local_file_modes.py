"""Local data is private: under umask 022, what wfconsole creates is its owner's alone.

Real commands run in child processes (``wfconsole demo``, ``workflow import``, ``run
--wait`` with the embedded worker, ``huey_consumer engine.queue.huey``, ``wfconsole
worker``) with the data directory under ``tmp_path``. Afterwards the data directory (and
each directory wfconsole had to create) is 0700 and every file in it — database,
``-wal``/``-shm``, queue file and its ``-wal``/``-shm``, key files, the console's log,
backups — is 0600. The ``-wal``/``-shm`` files are looked at while a consumer holds the
databases open (the last connection's close removes them).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import CONFIG_ENV, ENV_PREFIX, LEGACY_ENV
from engine.db import open_database
from engine.security.private_files import ensure_private_dir, ensure_private_file
from tests.conftest import settings_for_url
from tests.consumers import wait_until

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")

WORKFLOW = {
    "name": "private-files",
    "triggers": [
        {"type": "manual"},
        {"type": "webhook", "path": "private-files", "secret": "not-for-other-users"},
    ],
    "actions": [{"type": "create_task", "title": "Check the file modes"}],
}
WFCONSOLE = [sys.executable, "-m", "wfconsole.cli"]
OPERATOR = "owner"


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """The common umask, under which a plain open() makes 0644 files."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A child's environment: the data directory under tmp_path (not created yet)."""
    clean = {
        name: value
        for name, value in os.environ.items()
        if name not in LEGACY_ENV and name != CONFIG_ENV and not name.startswith(ENV_PREFIX)
    }
    clean["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    clean["USER"] = OPERATOR
    clean["WFCONSOLE_QUEUE__SWEEP_INTERVAL"] = "0.2"  # a consumer opens the database at once
    return clean


def data_dir_of(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "wfconsole"


def wfconsole(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*WFCONSOLE, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"wfconsole {' '.join(args)}: {done.stderr}"
    return done


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def too_open(top: Path) -> dict[str, str]:
    """Every directory (from ``top`` down) not 0700 and every file not private: name → mode."""
    found = {}
    for path in [top, *sorted(top.rglob("*"))]:
        private = 0o700 if path.is_dir() else stat.S_IMODE(path.stat().st_mode) & 0o600
        if stat.S_IMODE(path.stat().st_mode) != private:
            found[str(path.relative_to(top.parent))] = mode(path)
    return found


class Consumer:
    """A consumer child process, ended by its own pid (SIGTERM, then SIGKILL)."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self._log = log.open("wb")
        self.log = log
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()

    def wait_for(self, *paths: Path) -> None:
        def there() -> bool:
            assert self.process.poll() is None, self.log.read_text(errors="replace")
            return all(p.exists() for p in paths)

        assert wait_until(there, 30), f"never created: {[str(p) for p in paths if not p.exists()]}"


def siblings(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def test_the_default_data_dir_and_everything_commands_leave_in_it_are_private(
    tmp_path: Path, env: dict[str, str]
) -> None:
    data = data_dir_of(env)
    definition = tmp_path / "private-files.json"
    definition.write_text(json.dumps(WORKFLOW), encoding="utf-8")

    wfconsole(env, tmp_path, "demo", "--no-open", "--executions", "20")
    wfconsole(env, tmp_path, "workflow", "import", str(definition))  # stores an encrypted secret
    ran = wfconsole(env, tmp_path, "run", "private-files", "--wait")  # the embedded worker
    wfconsole(env, tmp_path, "maintenance", "backup")
    # The console's log (the console itself needs a terminal).
    subprocess.run(
        [sys.executable, "-c", "from engine.config import Settings; "
         "from wfconsole.cli.commands.console import _log_to_file; import logging; "
         "_log_to_file(Settings()); logging.getLogger('wfconsole').warning('logged')"],
        env=env, cwd=tmp_path, check=True, timeout=60,
    )  # fmt: skip

    assert " SUCCESS" in ran.stdout
    names = {p.name for p in data.iterdir()}
    expected = {"wfconsole.db", "queue.db", "queue.key", "encryption.key", "wfconsole.log"}
    assert expected <= names, names
    assert list((data / "backups").iterdir())
    assert mode(data) == "0o700"
    assert mode(Path(env["XDG_DATA_HOME"])) == "0o700"  # created by wfconsole on the way
    assert too_open(data) == {}


def test_a_huey_consumer_keeps_the_databases_and_their_wal_and_shm_private(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """``huey_consumer engine.queue.huey`` never passes through the CLI's start-up."""
    data = data_dir_of(env)
    command = [sys.executable, "-m", "huey.bin.huey_consumer", "engine.queue.huey",
               "-w", "1", "-k", "thread", "-d", "0.02", "-m", "0.02", "-b", "1.0"]  # fmt: skip
    consumer = Consumer(command, env, tmp_path, tmp_path / "consumer.log")
    try:
        consumer.wait_for(*siblings(data / "wfconsole.db"), *siblings(data / "queue.db"))
        assert mode(data) == "0o700"
        assert too_open(data) == {}
    finally:
        consumer.stop()
    assert too_open(data) == {}


def test_configured_locations_get_private_new_directories_and_files(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """``wfconsole worker`` with ``database.url`` and ``queue.path`` in directories that do
    not exist yet: wfconsole creates them 0700; a directory the user made stays as it is."""
    chosen = tmp_path / "srv"
    chosen.mkdir(mode=0o755)
    database = chosen / "new" / "db" / "wf.db"
    queue = chosen / "queue" / "q.db"
    config = tmp_path / "wfconsole.toml"
    config.write_text(
        f"[database]\nurl = {json.dumps(f'sqlite:///{database}')}\n"
        f"[queue]\npath = {json.dumps(str(queue))}\n",
        encoding="utf-8",
    )
    consumer = Consumer([*WFCONSOLE, "worker", "-w", "1", "--config", str(config)], env,
                        tmp_path, tmp_path / "worker.log")  # fmt: skip
    try:
        consumer.wait_for(*siblings(database), *siblings(queue))
        assert too_open(chosen / "new") == too_open(chosen / "queue") == {}
    finally:
        consumer.stop()
    assert mode(chosen) == "0o755"  # the user's directory: not ours to change
    assert {mode(p) for p in (database, queue, queue.with_suffix(".key"))} == {"0o600"}


def test_an_old_too_open_database_of_ours_is_restricted_once_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Files an older version left 0644 (and their -wal/-shm) become 0600 when opened."""
    chosen = tmp_path / "chosen"
    chosen.mkdir(mode=0o755)
    path = chosen / "old.db"
    open_database(settings_for_url(f"sqlite:///{path}")).dispose()
    for old in (path, chosen / "old.db-wal", chosen / "old.log"):
        old.touch()
        old.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="wfconsole.files"):
        db = open_database(settings_for_url(f"sqlite:///{path}"))
        with db.engine.connect():  # the -wal lives as long as a connection does
            assert {mode(p) for p in (path, chosen / "old.db-wal")} == {"0o600"}
        db.dispose()
        ensure_private_file(chosen / "old.log")
        open_database(settings_for_url(f"sqlite:///{path}")).dispose()  # nothing left to do

    assert mode(chosen / "old.log") == "0o600"
    assert mode(chosen) == "0o755"
    # Only this logger: earlier tests may have left the root logger open to alembic's INFO.
    warnings = [r.getMessage() for r in caplog.records if r.name == "wfconsole.files"]
    assert len(warnings) == 3 and all("restricted to its owner" in w for w in warnings)
    assert "old.db was accessible to other users (mode 644)" in warnings[0]


def test_the_own_data_dir_is_restricted_but_other_existing_directories_are_not(
    isolated_environment: Path, tmp_path: Path
) -> None:
    own = isolated_environment / "wfconsole"
    own.mkdir(mode=0o755)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)

    ensure_private_dir(own / "backups")
    ensure_private_file(elsewhere / "made" / "file")

    assert (mode(own), mode(own / "backups")) == ("0o700", "0o700")
    assert (mode(elsewhere), mode(elsewhere / "made")) == ("0o755", "0o700")
    assert mode(elsewhere / "made" / "file") == "0o600"
