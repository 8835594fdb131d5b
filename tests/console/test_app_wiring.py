"""How the console is wired: the CLI entry, the header, and what describe() shows."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pytest

from engine.config import Settings
from engine.db import Database
from engine.deployment import DeploymentInfo
from tests.console.conftest import Settle, screen_text
from wfconsole.cli.commands.console import open_console
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend

MakeApp = Callable[..., WfConsoleApp]


async def test_header_shows_the_health_and_the_operator(make_app: MakeApp, settle: Settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        header = screen_text(app).splitlines()[0]
        assert header.startswith(" wfconsole · executions ")
        assert header.rstrip().endswith("db ok · sqlite queue ok · tester (SUPER_ADMIN)")


async def test_help_says_where_the_console_is_attached(make_app: MakeApp, settle: Settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        (attached,) = [g for g in app.key_groups(app.screen) if g.title == "Attached to"]
        assert [(k.key, k.description) for k in attached.keys] == [
            ("database", "sqlite:///console.db"),
            ("queue", str(app.backend.describe().queue_location)),
        ]


def test_describe_hides_database_and_redis_passwords() -> None:
    settings = Settings.model_validate({"queue": {"redis_url": "redis://:hunter2@cache:6379/0"}})
    db = Database(url="postgresql+psycopg://ops:hunter2@db/wf", engine=None, read_engine=None)  # type: ignore[arg-type]
    info = EngineBackend(db, settings).describe()
    assert info == DeploymentInfo(
        "postgresql+psycopg://ops:***@db/wf", "redis", "redis://:***@cache:6379/0"
    )


def test_open_console_runs_the_app_on_the_configured_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:///cli.db")
    monkeypatch.setenv("WFCONSOLE_CONSOLE__REFRESH_INTERVAL", "5")
    started: list[WfConsoleApp] = []

    def fake_run(app: WfConsoleApp, *args: Any, **kwargs: Any) -> None:
        started.append(app)

    monkeypatch.setattr(WfConsoleApp, "run", fake_run)
    assert open_console(argparse.Namespace(config=None, user="alice")) == 0
    (app,) = started
    assert app.operator == "alice"
    assert app.console_settings.refresh_interval == 5
    assert app.backend.describe().database_url == "sqlite:///cli.db"
    assert app.backend.describe().queue_kind == "sqlite"
