"""The command palette offers every key of the current screen, disabled ones with a reason."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import CommandPalette
from textual.screen import Screen
from textual.widgets import Static

from tests.console.conftest import Settle, screen_text
from wfconsole.console.app import WfConsoleApp, screen_commands
from wfconsole.console.screens.executions import ExecutionsScreen

MakeApp = Callable[..., WfConsoleApp]


class GatedScreen(Screen[object]):
    """A screen with one allowed and one refused action."""

    BINDINGS = [Binding("a", "allowed", "Do the allowed thing"), Binding("b", "gated", "Purge")]

    def __init__(self) -> None:
        super().__init__()
        self.done: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("gated")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if action == "gated" else True

    def denial_for(self, action: str) -> str | None:
        return "needs ADMIN (you are VIEWER)" if action == "gated" else None

    def action_allowed(self) -> None:
        self.done.append("allowed")

    def action_gated(self) -> None:
        self.done.append("gated")


async def test_the_palette_runs_a_key_of_the_current_screen(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        await pilot.press("ctrl+p", *"filter")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert screen.filter_bar.display


async def test_a_refused_key_is_listed_with_its_reason_and_does_nothing(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        gated = GatedScreen()
        await app.push_screen(gated)
        await settle(pilot)
        listed = {name: help_text for name, help_text, _ in screen_commands(app, gated)}
        assert listed["Purge"] == "(b) unavailable: needs ADMIN (you are VIEWER)"
        assert listed["Do the allowed thing"] == "(a) on this screen"
        await pilot.press("ctrl+p", *"purge")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is gated
        assert gated.done == []
        assert "Purge: needs ADMIN (you are VIEWER)" in screen_text(app)
        await pilot.press("ctrl+p", *"do the allowed")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert gated.done == ["allowed"]
