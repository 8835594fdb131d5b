"""The console fits the terminal (80x24 and 120x36) and shows something at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import Log

from engine.config import ConsoleSettings
from tests.console.conftest import Settle, screen_text
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.backend import BackendUnavailable
from wfconsole.console.engine_backend import EngineBackend
from wfconsole.console.launch import Lifetime, run_console
from wfconsole.console.opening_backend import OpeningBackend
from wfconsole.console.screens.executions import ExecutionsScreen
from wfconsole.console.screens.maintenance import MaintenanceScreen
from wfconsole.console.widgets.console_footer import MORE, ConsoleFooter, fitted
from wfconsole.console.widgets.console_header import ConsoleHeader

MakeApp = Callable[..., WfConsoleApp]
SECTIONS = ["dashboard", "workflows", "executions", "failures", "outbound", "maintenance"]
SIZES = [pytest.param((120, 36), id="120x36"), pytest.param((80, 24), id="80x24")]
TABS = "d Dashboard  w Workflows  x Executions  f Failures  o Outbound  m Maintenance"
SHORT_TABS = "d Dash  w Flows  x Runs  f Fails  o Out  m Maint"
"""At 80 columns the full titles leave no room for ``? help``: the tabs use short ones."""


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("section", SECTIONS)
async def test_every_section_shows_its_tabs_health_and_every_key(
    make_app: MakeApp, settle: Settle, section: str, size: tuple[int, int]
) -> None:
    app = make_app(section=section)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        lines = screen_text(app).splitlines()
        assert len(lines) == size[1] and all(len(line) <= size[0] for line in lines)
        assert lines[0].rstrip().endswith("db ok · sqlite queue ok · tester (SUPER_ADMIN)")
        tabs = TABS if size[0] >= 120 else SHORT_TABS
        assert lines[1].startswith(f" {tabs}") and "? help" in lines[1]
        footer = lines[-1]
        shown = app.screen.query_one(ConsoleFooter).shown_keys()
        assert shown and MORE not in footer
        for _, key, description, _ in shown:
            assert f"{key} {description}" in footer
        assert "Dashboard" not in footer and "Quit" not in footer  # those are the header's


def test_a_footer_too_narrow_for_its_keys_ends_with_more_and_stays_inside() -> None:
    keys = [(k, k, f"Action {k}", True) for k in "abcdefghij"]
    line = fitted(keys, 40, lambda key: Text(f"{key[1]} {key[2]}"))
    assert line.cell_len <= 40
    assert line.plain == " a Action a  b Action b  ? more"


async def test_clicking_a_tab_opens_its_section(make_app: MakeApp, settle: Settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        column = f" {TABS}".index("w Workflows")
        await pilot.click(ConsoleHeader, offset=(column, 1))
        await settle(pilot)
        assert app.current_mode == "workflows"
        assert "wfconsole · workflows" in screen_text(app).splitlines()[0]


async def test_the_health_is_checked_at_start_not_on_the_first_tick(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app(refresh_interval=3600.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.sub_title == "db ok · sqlite queue ok · tester (SUPER_ADMIN)"


async def test_what_waits_for_the_first_page_starts_after_its_rows(
    backend: EngineBackend, settle: Settle
) -> None:
    rows_then: list[int] = []

    def after_first_page() -> None:
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        rows_then.append(len(screen.rows))

    app = WfConsoleApp(
        backend,
        operator="tester",
        console_settings=ConsoleSettings(refresh_interval=3600.0),
        after_first_page=after_first_page,
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert rows_then == [18]
        assert app.health is not None and app.role == "SUPER_ADMIN"


async def test_maintenance_shows_no_job_log_until_a_job_writes_one(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app(section="maintenance")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MaintenanceScreen)
        log = screen.query_one("#maintenance-log", Log)
        assert not log.display and "────" not in screen_text(app)
        await pilot.press("b")
        await settle(pilot)
        assert log.display and log.lines[0] == "backup…"


def test_calls_wait_for_the_backend_opened_on_a_thread(backend: EngineBackend) -> None:
    release = threading.Event()

    def open_backend() -> EngineBackend:
        release.wait(5)
        return backend

    opening = OpeningBackend(open_backend)
    assert not opening.wait(0.05)
    release.set()
    assert opening.list_workflows() == backend.list_workflows()


def test_a_backend_that_cannot_open_closes_the_console_and_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exits: list[int | None] = []

    def fake_run(app: WfConsoleApp, *args: Any, **kwargs: Any) -> None:
        with pytest.raises(BackendUnavailable, match="not migrated"):
            app.backend.list_workflows()
        exits.append(1)

    def open_backend(lifetime: Lifetime) -> EngineBackend:
        raise RuntimeError("database not migrated")

    monkeypatch.setattr(WfConsoleApp, "run", fake_run)
    with pytest.raises(RuntimeError, match="database not migrated"):
        run_console(
            open_backend, lambda b, lt: None, operator="x", console_settings=ConsoleSettings()
        )
    assert exits == [1]


def test_nothing_is_kept_open_after_the_console_closed() -> None:
    closed: list[str] = []
    lifetime = Lifetime()

    class Service:
        def __enter__(self) -> Service:
            return self

        def __exit__(self, *exc: object) -> None:
            closed.append("service")

    lifetime.keep(Service())
    lifetime.close()
    assert closed == ["service"]
    with pytest.raises(RuntimeError, match="closed"):
        lifetime.keep(Service())
