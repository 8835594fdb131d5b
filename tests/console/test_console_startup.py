"""What opening the console and a section costs (modules, stylesheet parses); the footer."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import SqliteHuey

from engine.db import Database
from engine.plain_reads.target import PlainConsoleSettings, plain_target
from tests.console.conftest import Settle, screen_text
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend
from wfconsole.console.opening_backend import OpeningBackend
from wfconsole.console.plain_first_page import PlainFirstPage
from wfconsole.console.screens.executions import ExecutionsScreen
from wfconsole.console.stylesheets import later_css_paths

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


def loaded_by_importing_the_app(*modules: str) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after importing the app."""
    script = (
        "import sys, wfconsole.console.app\n"
        f"print(' '.join(m for m in {modules!r} if m in sys.modules))"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()


def test_importing_the_app_leaves_the_first_screens_dialogs_and_the_text_area_unloaded() -> None:
    """The detail, the blast radius and the help load when first opened; the gate on
    every screen imports the text area at its first key, so tree-sitter waits for it."""
    screens = [
        f"wfconsole.console.screens.{n}" for n in ("blast_radius", "execution_detail", "help")
    ]
    assert loaded_by_importing_the_app(*screens, "tree_sitter") == []


def test_importing_the_app_loads_neither_sqlmodel_nor_the_models() -> None:
    """The first screen's statuses and roles come from ``engine.statuses``: the ORM loads on
    a thread while the shell paints, not on the main thread before it."""
    assert loaded_by_importing_the_app("sqlmodel", "sqlalchemy.orm", "engine.models") == []


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


class HeldFirstPage:
    """The engine backend, its execution list held until ``release`` is set."""

    def __init__(self, inner: EngineBackend) -> None:
        self.inner = inner
        self.release = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list_executions(self, **query: Any) -> Any:
        self.release.wait(10)
        return self.inner.list_executions(**query)


def _read_stylesheets(app: WfConsoleApp) -> set[str]:
    return {path for path, _ in app.stylesheet.source}


async def test_other_screens_stylesheets_are_read_after_the_first_page_or_before_a_push(
    make_app: MakeApp, backend: EngineBackend, settle: Settle
) -> None:
    later = {str(path) for path in later_css_paths()}
    held = HeldFirstPage(backend)
    app = make_app(backend=held)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert later & _read_stylesheets(app) == set()  # the first page is still out
        await pilot.press("question_mark")  # a dialog before it: its stylesheet first
        assert later <= _read_stylesheets(app)
        held.release.set()
        await settle(pilot)
        assert "Console" in screen_text(app)
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert later <= _read_stylesheets(app)  # after the first page and the health


async def test_early_answers_are_drawn_with_the_first_frame_not_from_a_worker(
    console_db: Database, backend: EngineBackend, settle: Settle
) -> None:
    early = PlainFirstPage.open(
        plain_target(None, environ={"DATABASE_URL": "sqlite:///console.db"})
    )
    assert early is not None
    threads: list[str] = []

    class Recorded:
        def __getattr__(self, name: str) -> Any:
            threads.append(f"{name} {threading.current_thread() is threading.main_thread()}")
            return getattr(early, name)

    app = WfConsoleApp(
        OpeningBackend(lambda: backend, Recorded()),
        operator="tester",
        console_settings=PlainConsoleSettings(refresh_interval=3600.0),
    )
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen) and len(screen.rows) == 18
        assert app.sub_title.startswith("db ok · sqlite queue ok · tester")
        await settle(pilot)
        assert app.sub_title == "db ok · sqlite queue ok · tester (SUPER_ADMIN)"
    early.close()
    assert threads[:3] == ["list_executions True", "describe True", "health True"]


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
