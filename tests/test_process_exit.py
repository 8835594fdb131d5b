"""Our processes end without the interpreter's last garbage collections (engine/process_exit.py).

Each child registers a probe with ``atexit`` before anything of ours is imported; exit
handlers run last-registered first, so the probe runs after ours and reports whether
every object had been frozen by then. The command's own output and exit status must be
what they always were.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CLI = "from wfconsole.cli import main\nsys.exit(main(sys.argv[1:]))"
PROBE = """
import atexit, gc, sys
atexit.register(lambda: print(f"frozen at exit: {gc.get_freeze_count() > 0}"))
"""


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE + code, *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_command_exits_frozen_with_its_output_and_status(isolated_environment: Path) -> None:
    run = _run(CLI, "db", "upgrade")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "frozen at exit: True"
    listed = _run(CLI, "workflow", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[-1] == "frozen at exit: True"

    refused = _run(CLI, "run", "nope")
    assert refused.returncode == 1
    assert refused.stderr.startswith("wfconsole: error:")
    assert refused.stdout.strip() == "frozen at exit: True"


def test_the_consumer_entry_point_exits_frozen(isolated_environment: Path) -> None:
    # What `huey_consumer engine.queue.huey` resolves first.
    run = _run("import engine.queue, huey\nprint(isinstance(engine.queue.huey, huey.SqliteHuey))")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["True", "frozen at exit: True"]


def test_a_plain_import_does_not_freeze(isolated_environment: Path) -> None:
    """Only the entry points ask for it: a program that imports the engine keeps Python's
    exit as it is."""
    run = _run("import engine.workers.runtime, wfconsole.cli")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "frozen at exit: False"


def test_commands_that_enqueue_leave_no_wal_beside_the_queue_file(
    isolated_environment: Path, tmp_path: Path
) -> None:
    """The queue file's connection is closed at exit (``close_at_exit``), not left to the
    collector: SQLite checkpoints its WAL and removes the ``-wal`` and ``-shm`` files."""
    definition = tmp_path / "flow.json"
    definition.write_text(json.dumps({
        "name": "exit-check", "triggers": [{"type": "manual"}],
        "actions": [{"type": "create_task", "title": "x"}],
    }))  # fmt: skip
    data = isolated_environment / "wfconsole"
    assert _run(CLI, "workflow", "import", str(definition)).returncode == 0
    queued = _run(CLI, "run", "exit-check")
    assert queued.returncode == 0, queued.stderr
    assert sorted(p.name for p in data.iterdir()) == ["queue.db", "queue.key", "wfconsole.db"]
    waited = _run(CLI, "run", "exit-check", "--wait")
    assert waited.returncode == 0, waited.stderr
    assert " SUCCESS in " in waited.stdout
    assert sorted(p.name for p in data.iterdir()) == ["queue.db", "queue.key", "wfconsole.db"]
