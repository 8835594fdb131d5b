"""The outbound section (``o``): the destinations board, its window, its refresh, and
``h`` hold / ``u`` release with the blast radius, driven through Pilot over SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlmodel import col, select
from textual.widgets import Input, Static

from engine.db import Database
from engine.models import AuditLog, Role
from engine.outbound.call_stats import CallStats, write_figures
from engine.services.destinations import destination_board
from tests.console.conftest import HOSTILE_NAME, Settle, screen_text
from tests.console.flow_seed import (
    BUSY,
    HELD,
    SLOW,
    WEBHOOK_FLOW,
    seed_destinations,
    waiting_for,
    waiting_state,
)
from tests.console.helpers import notes, press_settled, set_role
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.blast_radius import BlastRadiusScreen
from wfconsole.console.screens.help import HelpScreen
from wfconsole.console.screens.hold_destination import HoldDestinationScreen
from wfconsole.console.screens.outbound import OutboundScreen

MakeApp = Callable[..., WfConsoleApp]


def destination_audit(db: Database) -> list[tuple[str, str, str]]:
    with db.read_session() as session:
        rows = session.exec(select(AuditLog).order_by(col(AuditLog.id))).all()
        return [(r.actor, r.action, str(r.target_id)) for r in rows
                if r.action.startswith("destination.")]  # fmt: skip


def held(db: Database) -> set[str]:
    return {f.destination for f in destination_board(db, "5m") if f.held}


def outbound(app: WfConsoleApp) -> OutboundScreen:
    screen = app.screen
    assert isinstance(screen, OutboundScreen)
    return screen


async def test_the_board_lists_each_destination_with_its_figures(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    seed_destinations(console_db)
    app = make_app(section="outbound")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = outbound(app)
        assert [f.destination for f in screen.board] == [BUSY, SLOW, HELD]
        busy = [str(cell) for cell in screen.table.get_row(BUSY)]
        assert busy[:3] == [BUSY, "41", "12%"] and busy[6:9] == ["1", "30s", "closed"]
        assert [str(cell) for cell in screen.table.get_row(HELD)][-2:] == ["held", "0"]
        text = screen_text(app)
        assert "last 5m · 3 destinations · 44 calls · 1 held" in text
        assert "last Retry-After 30s at" in text and "5 errors of 41 calls" in text


async def test_t_cycles_the_window_and_the_board_refreshes_on_the_interval(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="outbound", refresh_interval=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "no outbound call in the last 5m" in screen_text(app)
        for window in ("1h", "24h", "5m"):
            await press_settled(pilot, settle, "t")
            assert outbound(app).window == window
            assert f"last {window}" in screen_text(app)
        stats = CallStats()
        stats.record(BUSY, 12.0, error=False)
        write_figures(console_db, "worker-b:2:y", stats.take_dirty())
        for _ in range(100):  # up to 10 s of slack on a busy machine
            if outbound(app).board:
                break
            await asyncio.sleep(0.1)
        assert [f.destination for f in outbound(app).board] == [BUSY]


async def test_h_holds_the_highlighted_destination_for_a_while(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    seed_destinations(console_db)
    app = make_app(section="outbound")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "down", "h")  # SLOW
        dialog = app.screen
        assert isinstance(dialog, HoldDestinationScreen)
        assert dialog.query_one("#hold-destination", Input).value == SLOW
        await press_settled(pilot, settle, *"30m", "enter")
        assert [str(c) for c in outbound(app).table.get_row(SLOW)][-2] == "held"
        assert any(f"{SLOW}: held for 30m" in note for note in notes(app))
    [slow] = [f for f in destination_board(console_db, "5m") if f.destination == SLOW]
    assert slow.held and slow.held_by == "tester" and slow.held_until is not None
    assert destination_audit(console_db)[-1] == ("tester", "destination.hold", SLOW)


async def test_a_bad_destination_or_duration_is_said_in_the_dialog(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="outbound")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "h")
        dialog = app.screen
        assert isinstance(dialog, HoldDestinationScreen)
        for destination, duration, said in (
            ("", "", "invalid destination"),
            ("http://x.example/path", "", "invalid destination"),
            (HOSTILE_NAME, "", "invalid destination"),
            ("ok.example.com", "tomorrow", "for:"),
        ):
            dialog.query_one("#hold-destination", Input).value = destination
            dialog.query_one("#hold-for", Input).value = duration
            await press_settled(pilot, settle, "enter")
            assert app.screen is dialog
            error = str(dialog.query_one("#hold-error", Static).render())
            assert said in error, error
        await press_settled(pilot, settle, "escape")
        assert isinstance(app.screen, OutboundScreen)
    assert held(console_db) == set() and destination_audit(console_db) == []


async def test_u_shows_what_the_release_sends_then_sends_the_waiting_run(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    seed_destinations(console_db)
    run = waiting_for(console_db, HELD)
    app = make_app(section="outbound")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "end", "u")
        assert isinstance(app.screen, BlastRadiusScreen)
        text = screen_text(app)
        assert f"Release {HELD}?" in text and "1 waiting run will continue" in text
        assert WEBHOOK_FLOW in text
        await press_settled(pilot, settle, "n")
        assert HELD in held(console_db) and waiting_state(console_db, run)[1] == "destination"
        await press_settled(pilot, settle, "u", "y")
        assert isinstance(app.screen, OutboundScreen)
        assert any(f"{HELD}: released; 1 run sent" in note for note in notes(app))
    assert HELD not in held(console_db)
    assert waiting_state(console_db, run) == ("PENDING", None)
    assert destination_audit(console_db)[-1] == ("tester", "destination.release", HELD)


async def test_releasing_what_is_neither_held_nor_waited_for_asks_nothing(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    seed_destinations(console_db)
    app = make_app(section="outbound")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "u")  # BUSY: not held
        assert isinstance(app.screen, OutboundScreen)
        assert f"{BUSY} is not held and no run waits for it" in notes(app)
    assert [a for _, a, _ in destination_audit(console_db)] == ["destination.hold"]


async def test_a_viewer_can_read_the_board_but_not_hold_or_release(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    seed_destinations(console_db)
    set_role(console_db, "tester", Role.VIEWER.value)
    app = make_app(section="outbound")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert len(outbound(app).board) == 3
        await press_settled(pilot, settle, "h")
        await press_settled(pilot, settle, "end", "u")
        assert isinstance(app.screen, OutboundScreen)
    assert "cannot hold: needs OPERATOR (you are VIEWER)" in notes(app)
    assert "cannot release: needs OPERATOR (you are VIEWER)" in notes(app)
    assert HELD in held(console_db)


async def test_help_and_the_footer_list_the_boards_keys(make_app: MakeApp, settle: Settle) -> None:
    app = make_app(section="outbound")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "t Window  h Hold  u Release" in screen_text(app).splitlines()[-1]
        await press_settled(pilot, settle, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        listed = {(item.key, item.description) for g in app.screen.groups for item in g.keys}
        assert {("t", "Window"), ("h", "Hold"), ("u", "Release")} <= listed
