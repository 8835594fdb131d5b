"""What opening the console and a section costs (modules, stylesheet parses); the footer."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from huey import SqliteHuey

from engine.db import Database
from tests.console.conftest import Settle, screen_text
from wfconsole.console.app import WfConsoleApp

MakeApp = Callable[..., WfConsoleApp]
ROOT = Path(__file__).resolve().parents[2]
LATER_SCREENS = ("dashboard", "workflows", "editor", "dry_run", "failures", "maintenance")


def test_importing_the_app_leaves_the_other_sections_screens_unloaded() -> None:
    script = (
        "import sys, wfconsole.console.app\n"
        "print(' '.join(m for m in sys.modules if m.startswith('wfconsole.console.screens.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "wfconsole.console.screens.executions" in loaded
    assert [name for name in LATER_SCREENS if f"wfconsole.console.screens.{name}" in loaded] == []


def test_importing_the_app_loads_neither_sqlmodel_nor_the_models() -> None:
    """The first screen's statuses and roles come from ``engine.statuses``: the ORM loads on
    a thread while the shell paints, not on the main thread before it."""
    script = (
        "import sys, wfconsole.console.app\n"
        "print(' '.join(m for m in ('sqlmodel', 'sqlalchemy.orm', 'engine.models')"
        " if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []


async def test_a_first_visit_to_a_section_parses_no_stylesheet_again(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        parses: list[None] = []
        reparse = app.stylesheet.reparse

        def counted() -> None:
            parses.append(None)
            reparse()

        app.stylesheet.reparse = counted  # type: ignore[method-assign]
        for key, title in (("w", "workflows"), ("f", "failures"), ("d", "dashboard")):
            await pilot.press(key)
            await settle(pilot)
            assert f"wfconsole · {title}" in screen_text(app)
        assert parses == []
        app.theme = "textual-light"  # a real style change still re-parses
        await settle(pilot)
        assert parses != []


async def test_the_footer_shows_the_screens_keys_and_follows_the_focus(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        footer = screen_text(app).splitlines()[-1]
        assert footer.strip() == "⏎ Open  / Filter  space Mark  r Retry  c Cancel  = Diff  R Replay"
        await pilot.press("slash")  # the filter takes focus: its keys apply
        await settle(pilot)
        assert "esc Clear filter" in screen_text(app).splitlines()[-1]


HEALTH_PROBE = """
import json, sys
from engine.config import load_settings
from engine.db import open_database
from wfconsole.console.engine_backend import EngineBackend

settings = load_settings(sys.argv[1])
backend = EngineBackend(open_database(settings), settings)
info, report = backend.describe(), backend.health()
counter = backend.deployment.queue_counter()
heavy = ("huey", "redis", "sqlmodel", "sqlalchemy.orm", "engine.models",
         "engine.workers.runtime", "engine.queue.instance", "cryptography.fernet")
print(json.dumps({
    "kind": info.queue_kind, "db": report.database.ok, "queue": report.queue.ok,
    "counts": [counter.pending_count(), counter.scheduled_count()],
    "loaded": [name for name in heavy if name in sys.modules],
}))
"""


def test_the_first_health_check_loads_neither_huey_nor_the_orm(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """The header's `db ok · sqlite queue ok` waits for nothing the first page did not
    load: the local queue is counted from its file, with the counts Huey gives."""
    queue_file = tmp_path / "queue.db"
    huey = SqliteHuey("wfconsole", filename=str(queue_file), results=False)

    @huey.task()
    def noop() -> None:
        return None

    noop()
    noop()
    noop.schedule(delay=3600)
    huey.add_schedule(huey.dequeue())  # moved to the schedule, as a worker moves a delay
    expected = [huey.pending_count(), huey.scheduled_count()]
    config = tmp_path / "wfconsole.toml"
    config.write_text(
        f'[database]\nurl = "{sqlite_db.url}"\n[queue]\npath = "{queue_file}"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-c", HEALTH_PROBE, str(config)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    found = json.loads(done.stdout.splitlines()[-1])
    assert min(expected) >= 1  # something in each, as Huey counts it
    assert found == {
        "kind": "sqlite", "db": True, "queue": True, "counts": expected, "loaded": [],
    }  # fmt: skip


def test_a_queue_file_not_made_yet_is_made_private_and_counts_nothing(
    sqlite_db: Database, tmp_path: Path
) -> None:
    from engine.config import Settings
    from engine.deployment import Deployment

    queue_file = tmp_path / "new" / "queue.db"
    settings = Settings.model_validate(
        {"database": {"url": sqlite_db.url}, "queue": {"path": str(queue_file)}}
    )
    counter = Deployment(sqlite_db, settings).queue_counter()
    assert (counter.pending_count(), counter.scheduled_count()) == (0, 0)
    assert queue_file.stat().st_mode & 0o777 == 0o600
    assert queue_file.parent.stat().st_mode & 0o777 == 0o700
