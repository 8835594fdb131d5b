"""Pause, resume and limits from the workflows screen (``p``, ``L``), the dashboard's paused
banner and ``waiting`` in the executions, driven through Pilot over the seeded SQLite
database and the engine's services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlmodel import col, select
from textual.widgets import Input, Static

from engine.db import Database
from engine.models import AuditLog, Role, utcnow
from engine.services.flow_control import SUPERSEDED, held_summary
from engine.services.flow_limits import limit_state
from tests.console.conftest import HOSTILE_NAME, Settle, screen_text
from tests.console.flow_seed import paused_with_held, statuses
from tests.console.helpers import notes, press_settled, set_role
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.blast_radius import BlastRadiusScreen
from wfconsole.console.screens.execution_detail import ExecutionDetailScreen
from wfconsole.console.screens.executions import ExecutionsScreen
from wfconsole.console.screens.help import HelpScreen
from wfconsole.console.screens.pause_workflow import PauseWorkflowScreen
from wfconsole.console.screens.workflow_limits import WorkflowLimitsScreen
from wfconsole.console.screens.workflows import WorkflowsScreen
from wfconsole.console.views.execution_filter import ExecutionFilter

MakeApp = Callable[..., WfConsoleApp]
NAME = "invoice-alert"  # the second row of the workflow list ("down" once)
FLOW_ACTIONS = {"workflow.pause", "workflow.resume", "workflow.limit", "workflow.limit.clear"}


def audit_actions(db: Database) -> list[tuple[str, str]]:
    with db.read_session() as session:
        rows = session.exec(select(AuditLog).order_by(col(AuditLog.id))).all()
        return [(r.actor, r.action) for r in rows if r.action in FLOW_ACTIONS]


def on_column(app: WfConsoleApp, name: str) -> str:
    screen = app.screen
    assert isinstance(screen, WorkflowsScreen)
    row = next(w for w in screen.workflows if w.name == name)
    return str(screen.table.get_row(row.id)[1])


async def test_p_pauses_for_a_duration_and_the_list_says_paused(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "down", "p")
        assert isinstance(app.screen, PauseWorkflowScreen)
        assert "Triggers are still accepted" in screen_text(app)
        await press_settled(pilot, settle, *"10m", "enter")
        assert isinstance(app.screen, WorkflowsScreen)
        assert on_column(app, NAME) == "paused"
    summary = held_summary(console_db, NAME)
    assert summary.paused and summary.paused_by == "tester"
    assert summary.paused_until is not None
    left = summary.paused_until.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
    assert timedelta(minutes=9) < left <= timedelta(minutes=10)
    assert audit_actions(console_db) == [("tester", "workflow.pause")]
    assert any("invoice-alert: paused for 10m" in note for note in notes(app))


async def test_a_bad_duration_is_said_in_the_dialog_and_pauses_nothing(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "down", "p")
        for bad in ("soon", HOSTILE_NAME, "0s", "99999d"):
            app.screen.query_one("#pause-for", Input).value = bad
            await press_settled(pilot, settle, "enter")
            assert isinstance(app.screen, PauseWorkflowScreen)
            error = str(app.screen.query_one("#pause-error", Static).render())
            assert error.startswith("for:"), error
        assert "[@click=app.quit]" in screen_text(app)  # shown literally, not run
        await press_settled(pilot, settle, "escape")
        assert isinstance(app.screen, WorkflowsScreen)
    assert not held_summary(console_db, NAME).paused
    assert audit_actions(console_db) == []


async def test_resume_latest_shows_the_blast_radius_then_cancels_all_but_the_newest(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    held = paused_with_held(console_db, NAME, 3)
    before = held_summary(console_db, NAME)
    seeded_pending, newest = before.held - 3, before.newest_id
    assert newest in held
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert on_column(app, NAME) == "paused"
        await press_settled(pilot, settle, "down", "p")
        text = screen_text(app)
        assert "paused since" in text and "by alice" in text
        assert f"{3 + seeded_pending} runs held" in text
        assert "run the newest, cancel" in text and "spread:DURATION" in text
        await press_settled(pilot, settle, "down", "enter")  # latest
        assert isinstance(app.screen, BlastRadiusScreen)
        text = screen_text(app)
        assert f"Resume {NAME}?" in text
        assert f"1 run will start, {2 + seeded_pending} runs will be cancelled" in text
        assert "up to 1 message will be sent" in text  # the slack action of the one run
        await press_settled(pilot, settle, "y")
        assert isinstance(app.screen, WorkflowsScreen)
        assert on_column(app, NAME) == "yes"
    assert not held_summary(console_db, NAME).paused
    after = statuses(console_db, held)
    assert after.pop(newest)[0] == "PENDING"
    assert list(after.values()) == [("CANCELLED", SUPERSEDED)] * 2
    assert audit_actions(console_db)[-1] == ("tester", "workflow.resume")


async def test_keep_on_the_blast_radius_resumes_nothing(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    held = paused_with_held(console_db, NAME, 2)
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "down", "p", "down", "down", "enter")  # skip
        assert isinstance(app.screen, BlastRadiusScreen)
        assert "0 runs will start" in screen_text(app)
        await press_settled(pilot, settle, "escape")
    assert held_summary(console_db, NAME).paused
    assert {s for s, _ in statuses(console_db, held).values()} == {"PENDING"}


async def test_spread_asks_for_its_duration_and_resumes_over_it(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    held = paused_with_held(console_db, NAME, 2)
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "down", "p", "down", "down", "down", "enter")
        screen = app.screen
        assert isinstance(screen, PauseWorkflowScreen)
        assert "type the duration" in str(screen.query_one("#pause-error", Static).render())
        await press_settled(pilot, settle, *"never", "enter")
        assert "catch-up:" in str(screen.query_one("#pause-error", Static).render())
        screen.query_one("#pause-spread", Input).value = "10m"
        await press_settled(pilot, settle, "enter")
        assert isinstance(app.screen, BlastRadiusScreen)
        assert "catch-up spread:10m" in screen_text(app)
        await press_settled(pilot, settle, "y")
    assert not held_summary(console_db, NAME).paused
    assert {s for s, _ in statuses(console_db, held).values()} == {"PENDING"}
    assert any("resumed (spread:10m)" in note for note in notes(app))


async def test_limits_are_set_for_a_while_then_cleared_by_an_admin(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "down", "L")
        screen = app.screen
        assert isinstance(screen, WorkflowLimitsScreen)
        assert "override none" in screen_text(app)
        for field, bad, said in (("rate", "fast", "rate:"), ("concurrency", "-1", "concurrency:")):
            screen.query_one(f"#limit-{field}", Input).value = bad
            await press_settled(pilot, settle, "ctrl+s")
            assert str(screen.query_one("#limit-error", Static).render()).startswith(said)
            screen.query_one(f"#limit-{field}", Input).value = ""
        screen.query_one("#limit-concurrency", Input).value = "2"
        screen.query_one("#limit-rate", Input).value = "5/s"
        screen.query_one("#limit-for", Input).value = "1h"
        await press_settled(pilot, settle, "ctrl+s")
        assert isinstance(app.screen, WorkflowsScreen)
        assert on_column(app, NAME) == "limit"
        state = limit_state(console_db, NAME)
        assert (state.concurrency, state.rate, state.override_by) == (2, "5/s", "tester")
        assert state.override_until is not None
        await press_settled(pilot, settle, "L")
        assert "at most 2 at once, at most 5/s by tester" in screen_text(app)
        await press_settled(pilot, settle, "ctrl+r")
        assert on_column(app, NAME) == "yes"
    state = limit_state(console_db, NAME)
    assert (state.override_concurrency, state.override_rate) == (None, None)
    assert [a for _, a in audit_actions(console_db)] == ["workflow.limit", "workflow.limit.clear"]


async def test_roles_gate_pause_for_viewers_and_limits_for_operators(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    set_role(console_db, "tester", Role.OPERATOR.value)
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "down", "L")
        assert isinstance(app.screen, WorkflowsScreen)
        assert "Limits: needs ADMIN (you are OPERATOR)" in notes(app)
        await press_settled(pilot, settle, "p")
        assert isinstance(app.screen, PauseWorkflowScreen)  # an operator may pause
    set_role(console_db, "tester", Role.VIEWER.value)
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "down", "p")
        assert isinstance(app.screen, WorkflowsScreen)
        assert "Pause: needs OPERATOR (you are VIEWER)" in notes(app)
    assert audit_actions(console_db) == []


async def test_the_dashboard_names_the_paused_workflows_and_their_held_runs(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="dashboard")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "paused" not in screen_text(app)
    paused_with_held(console_db, NAME, 2)
    held = held_summary(console_db, NAME).held
    app = make_app(section="dashboard")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        lines = screen_text(app).splitlines()
        banner = next(line for line in lines if "paused" in line)
        assert f"1 workflow paused · {held} runs held: {NAME} ({held})" in banner
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)


async def test_executions_and_the_detail_say_why_a_run_waits(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    [held] = paused_with_held(console_db, NAME, 1)
    app = make_app(section="executions")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await app.show_executions(ExecutionFilter(workflow=NAME, workflow_exact=True,
                                                  status="PENDING"))  # fmt: skip
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        assert {row.waiting for row in screen.rows} == {"paused"}
        assert "waiting:paused" in screen_text(app)
        screen.table.move_cursor(row=screen.table.get_row_index(held))
        await press_settled(pilot, settle, "enter")
        assert isinstance(app.screen, ExecutionDetailScreen)
        assert "PENDING · waiting: paused" in screen_text(app)


async def test_help_lists_p_and_l_and_the_footer_shows_p(make_app: MakeApp, settle: Settle) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert " p Pause " in screen_text(app).splitlines()[-1]
        await press_settled(pilot, settle, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        listed = {(item.key, item.description) for g in app.screen.groups for item in g.keys}
        assert {("p", "Pause"), ("L", "Limits"), ("v", "Versions"), ("o", "Outbound")} <= listed
