"""What opening the console and a section costs (modules, stylesheet parses); the footer."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

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
