"""Read commands start without what they do not use (issue 15): no ORM models, no
Alembic, no worker runtime, no HTTP client or console — each such import cost a command
tens of milliseconds at every start. Run in a fresh interpreter, as a shell runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.db import Database

HEAVY = (
    "sqlmodel", "sqlalchemy.orm", "alembic", "engine.models", "engine.workers.runtime",
    "engine.execution.executor", "engine.actions.registry", "engine.definitions.schema",
    "httpx", "textual", "croniter", "huey",
)  # fmt: skip
PROBE = """
import json, sys
from wfconsole.cli import main
code = main(sys.argv[1:])
heavy = json.loads({heavy!r})
loaded = [name for name in heavy if name in sys.modules]
print("LOADED " + json.dumps([code, loaded]), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("command", "needs"),
    [
        (("executions", "list", "--limit", "5"), ()),
        (("health",), ()),
        (("workflow", "list"), ()),
        (("stats",), ()),
        (("alerts", "list"), ()),
        (("maintenance", "queue"), ("huey",)),  # its locks are read through Huey
    ],
)
def test_read_command_loads_nothing_it_does_not_use(
    sqlite_db: Database, tmp_path: Path, command: tuple[str, ...], needs: tuple[str, ...]
) -> None:
    config = tmp_path / "wfconsole.toml"
    config.write_text(
        f'[database]\nurl = "{sqlite_db.url}"\n[queue]\npath = "{tmp_path / "queue.db"}"\n',
        encoding="utf-8",
    )
    probe = PROBE.format(heavy=json.dumps(HEAVY))
    done = subprocess.run(
        [sys.executable, "-c", probe, *command, "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    [line] = [x for x in done.stderr.splitlines() if x.startswith("LOADED ")] or [done.stderr]
    code, loaded = json.loads(line.removeprefix("LOADED "))
    assert code in (0, 1), done.stderr  # health and maintenance queue exit 1 when unhealthy
    assert sorted(loaded) == sorted(needs)
