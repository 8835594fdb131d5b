"""The console's first screen from the plain reads (issue 15: up in 0.6 s): the newest page
and the header's health are answered through the driver before the engine backend opens,
with the engine's own answers; everything after goes to the engine."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from engine.config import ConsoleSettings
from engine.db import Database
from engine.plain_reads.target import PlainConsoleSettings, plain_target
from tests.console.conftest import Settle
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend
from wfconsole.console.opening_backend import OpeningBackend
from wfconsole.console.plain_first_page import PlainFirstPage
from wfconsole.console.screens.executions import ExecutionsScreen

ENVIRON = {"DATABASE_URL": "sqlite:///console.db"}  # console_db's file, as it is configured


@pytest.fixture
def early(console_db: Database) -> PlainFirstPage:
    found = PlainFirstPage.open(plain_target(None, environ=ENVIRON))
    assert found is not None
    return found


class Spy:
    """Records which calls the early answers served."""

    def __init__(self, inner: PlainFirstPage) -> None:
        self.inner = inner
        self.served: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if result is not None and name != "close":
                self.served.append(name)
            return result

        return call


def test_early_answers_are_the_engines(early: PlainFirstPage, backend: EngineBackend) -> None:
    assert early.list_executions(status=None, workflow=None, limit=50) == backend.list_executions(
        status=None, workflow=None, limit=50
    )
    assert early.describe() == backend.describe()
    assert early.health() == backend.health()
    # Anything beyond the newest page is the engine's to answer.
    assert early.list_executions(status="FAILED", workflow=None, limit=50) is None
    early.close()
    assert early.list_executions(limit=50) is None and early.health() is None


async def test_the_first_page_and_health_show_before_the_engine_opens(
    early: PlainFirstPage, backend: EngineBackend, settle: Settle
) -> None:
    seen_at_open: list[tuple[int, bool]] = []
    spy = Spy(early)

    def open_backend() -> EngineBackend:
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        seen_at_open.append((len(screen.rows), app.health is not None and app.health.ok))
        return backend

    opening = OpeningBackend(open_backend, spy)
    app = WfConsoleApp(
        opening,  # delegates every call, as run_console wires it
        operator="tester",
        console_settings=PlainConsoleSettings(refresh_interval=3600.0),
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        # The role is the first call the early answers cannot serve: the engine opened
        # then, with the rows and the health already on screen.
        assert seen_at_open == [(18, True)]
        assert spy.served == ["list_executions", "describe", "health"]
        assert app.role == "SUPER_ADMIN"
        assert app.sub_title == "db ok · sqlite queue ok · tester (SUPER_ADMIN)"
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        await pilot.press("slash", *"status:failed", "enter")
        await settle(pilot)
        assert screen.rows and {row.status for row in screen.rows} == {"FAILED"}
        screen.reload()  # the newest page again: the engine answers it now
        await settle(pilot)
    assert spy.served == ["list_executions", "describe", "health"]


def test_a_failing_early_answer_is_asked_of_the_engine(backend: EngineBackend) -> None:
    class Broken:
        def list_executions(self, **query: Any) -> Any:
            raise RuntimeError("database is locked")

        def describe(self) -> Any:
            raise RuntimeError("gone")

        def health(self) -> Any:
            raise RuntimeError("gone")

        def close(self) -> None:
            pass

    opening = OpeningBackend(lambda: backend, Broken())
    assert opening.list_executions(limit=5) == backend.list_executions(limit=5)
    assert opening.describe() == backend.describe()


def test_the_plain_refresh_default_is_the_settings_default() -> None:
    assert PlainConsoleSettings().refresh_interval == ConsoleSettings().refresh_interval


def test_the_consoles_first_screen_imports_neither_sqlalchemy_nor_pydantic() -> None:
    probe = (
        "import json, sys\n"
        "import wfconsole.cli.commands.console, wfconsole.console.app\n"
        "import wfconsole.console.launch, wfconsole.console.plain_first_page\n"
        "import wfconsole.console.screens.executions\n"
        "heavy = ('sqlalchemy', 'pydantic', 'sqlmodel', 'engine.config', 'engine.db', 'huey')\n"
        "print(json.dumps([name for name in heavy if name in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout) == []
