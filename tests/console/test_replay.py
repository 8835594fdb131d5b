"""Replay from the console: ``R`` on an execution (list and detail) previews what would be
copied and sent, then creates a run linked by ``replay_of``; ``R`` on a failure cluster
replays each of its executions from its failed step. OPERATOR only.

Against the seeded SQLite database (``replay_seed``, ``failures_seed``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Select, TextArea

from engine.db import Database
from engine.services.workflows import save_document
from tests.console.conftest import Settle, screen_text
from tests.console.failures_seed import CLUSTER_503, use_failures
from tests.console.helpers import notes, press_settled, set_role
from tests.console.replay_seed import FAILED_RUN, definition, replays_of, seed_replay, steps_of
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend
from wfconsole.console.screens.confirm import ConfirmScreen
from wfconsole.console.screens.execution_detail import ExecutionDetailScreen
from wfconsole.console.screens.executions import ExecutionsScreen
from wfconsole.console.screens.replay import DEBOUNCE, ReplayScreen
from wfconsole.console.views.replay_text import cluster_text

MakeApp = Callable[..., WfConsoleApp]


@pytest.fixture
def replayable(console_db: Database) -> Database:
    seed_replay(console_db)
    return console_db


async def open_replay_dialog(pilot: Pilot[Any], settle: Settle) -> ReplayScreen:
    """``R`` on the failed order-sync run in the execution list."""
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ExecutionsScreen)
    screen.table.move_cursor(row=screen.table.get_row_index(FAILED_RUN))
    await press_settled(pilot, settle, "R")
    dialog = pilot.app.screen
    assert isinstance(dialog, ReplayScreen)
    return dialog


async def replan(pilot: Pilot[Any], settle: Settle) -> None:
    """Wait for the dialog's debounced dry run."""
    await pilot.pause(DEBOUNCE + 0.2)
    await settle(pilot)


async def test_R_previews_the_copied_and_the_sent_steps_from_the_failed_one(
    make_app: MakeApp, settle: Settle, replayable: Database
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        dialog = await open_replay_dialog(pilot, settle)
        assert dialog.plan is not None and dialog.plan.from_step == 1
        text = screen_text(app)
        assert "workflow order-sync  version 1  from step 1" in text
        assert "copied, not sent (1):" in text
        assert " 0  create_task  SUCCESS" in text
        assert "sent again (1):" in text
        assert " 1  webhook  POST https://erp.example.com/orders/o1" in text
        assert replays_of(replayable, FAILED_RUN) == []  # a preview creates nothing


async def test_confirming_creates_a_run_linked_to_the_original_and_says_its_id(
    make_app: MakeApp, settle: Settle, replayable: Database
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_replay_dialog(pilot, settle)
        await press_settled(pilot, settle, "ctrl+r")
        assert isinstance(app.screen, ExecutionsScreen)
        [replay] = replays_of(replayable, FAILED_RUN)
        assert (replay.next_step, replay.trigger_data) == (1, {"order": "o1"})
        assert steps_of(replayable, replay.id) == [(0, "create_task", "SUCCESS")]
        assert f"replay created: {replay.id} (replay of {FAILED_RUN})" in notes(app)
        assert replay.id in [row.id for row in app.screen.rows]  # the list shows it


async def test_patches_change_the_preview_and_the_replayed_trigger_data(
    make_app: MakeApp, settle: Settle, replayable: Database
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        dialog = await open_replay_dialog(pilot, settle)
        dialog.query_one("#replay-patches", TextArea).text = "order=o2\ntrigger.note=fixed"
        await replan(pilot, settle)
        assert "POST https://erp.example.com/orders/o2" in screen_text(app)
        await press_settled(pilot, settle, "ctrl+r")
        [replay] = replays_of(replayable, FAILED_RUN)
        assert replay.trigger_data == {"order": "o2", "note": "fixed"}


async def test_patched_values_and_refusals_are_shown_literally(
    make_app: MakeApp, settle: Settle, replayable: Database
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        dialog = await open_replay_dialog(pilot, settle)
        dialog.query_one("#replay-patches", TextArea).text = "order=[@click=app.quit]x[/]"
        await replan(pilot, settle)
        assert "POST https://erp.example.com/orders/[@click=app.quit]x[/]" in screen_text(app)
        dialog.query_one("#replay-patches", TextArea).text = "[b]oops\x1b[2J"
        await replan(pilot, settle)
        assert "--set '[b]oops\\x1b[2J': give PATH=VALUE, e.g. order.id=o2" in screen_text(app)
        assert isinstance(app.screen, ReplayScreen)  # markup was not acted on


def test_the_cluster_summary_names_the_hosts_requests_go_to(
    backend: EngineBackend, replayable: Database
) -> None:
    plans = backend.replay_executions([FAILED_RUN], dry_run=True, actor="tester")
    text = cluster_text(plans * 2).plain
    assert "2 new executions of order-sync" in text
    assert "step  1  webhook  x2" in text
    assert "to hosts:\n  erp.example.com  x2" in text


async def test_from_step_0_copies_nothing_and_sends_every_step(
    make_app: MakeApp, settle: Settle, replayable: Database
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_replay_dialog(pilot, settle)
        await pilot.press("0")
        await replan(pilot, settle)
        text = screen_text(app)
        assert "copied, not sent: nothing (every step runs)" in text
        assert "sent again (2):" in text
        await press_settled(pilot, settle, "ctrl+r")
        [replay] = replays_of(replayable, FAILED_RUN)
        assert replay.next_step == 0 and steps_of(replayable, replay.id) == []


async def test_a_step_out_of_range_is_refused_and_creates_nothing(
    make_app: MakeApp, settle: Settle, replayable: Database
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        dialog = await open_replay_dialog(pilot, settle)
        await pilot.press("5")
        await replan(pilot, settle)
        assert "--from-step 5: version 1 of 'order-sync' has steps 0 to 1" in screen_text(app)
        await press_settled(pilot, settle, "ctrl+r")
        assert app.screen is dialog
        assert replays_of(replayable, FAILED_RUN) == []


async def test_latest_runs_what_the_current_definition_says(
    make_app: MakeApp, settle: Settle, replayable: Database
) -> None:
    save_document(replayable, definition("https://erp2.example.com/v2/{{ trigger.order }}"),
                  actor="tester")  # fmt: skip
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        dialog = await open_replay_dialog(pilot, settle)
        assert "POST https://erp.example.com/orders/o1" in screen_text(app)
        dialog.query_one("#replay-version", Select).value = "latest"
        await replan(pilot, settle)
        text = screen_text(app)
        assert "POST https://erp2.example.com/v2/o1" in text
        assert "runs version 2 (the original ran version 1)" in text
        await press_settled(pilot, settle, "ctrl+r")
        [replay] = replays_of(replayable, FAILED_RUN)
        assert replay.workflow_version == 2


async def test_escape_closes_the_dialog_without_creating_anything(
    make_app: MakeApp, settle: Settle, replayable: Database
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_replay_dialog(pilot, settle)
        await press_settled(pilot, settle, "escape")
        assert isinstance(app.screen, ExecutionsScreen)
        assert replays_of(replayable, FAILED_RUN) == []


async def test_R_in_the_execution_detail_opens_the_same_dialog(
    make_app: MakeApp, settle: Settle, replayable: Database
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        screen.table.move_cursor(row=screen.table.get_row_index(FAILED_RUN))
        await press_settled(pilot, settle, "enter")
        assert isinstance(app.screen, ExecutionDetailScreen)
        await press_settled(pilot, settle, "R")
        dialog = app.screen
        assert isinstance(dialog, ReplayScreen) and dialog.execution_id == FAILED_RUN
        await press_settled(pilot, settle, "ctrl+r")
        assert isinstance(app.screen, ExecutionDetailScreen)
        assert len(replays_of(replayable, FAILED_RUN)) == 1


async def test_a_viewer_is_told_why_and_no_dialog_opens(
    make_app: MakeApp, settle: Settle, replayable: Database
) -> None:
    set_role(replayable, "tester", "VIEWER")
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        screen.table.move_cursor(row=screen.table.get_row_index(FAILED_RUN))
        await press_settled(pilot, settle, "R")
        assert app.screen is screen
        assert "cannot replay: needs OPERATOR (you are VIEWER)" in notes(app)
        assert replays_of(replayable, FAILED_RUN) == []


# --- a failure cluster -------------------------------------------------------------------


@pytest.fixture
def failures(console_db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    use_failures(console_db, monkeypatch)
    return console_db


async def test_R_on_a_cluster_previews_then_replays_each_run_from_its_failed_step(
    make_app: MakeApp, settle: Settle, failures: Database
) -> None:
    app = make_app(section="failures")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "R")  # the biggest cluster: invoice-alert's 503s
        assert isinstance(app.screen, ConfirmScreen)
        text = screen_text(app)
        assert "3 new executions of invoice-alert" in text
        assert "each from its failed step, on its original definition" in text
        assert "3 finished steps copied, not sent" in text
        assert "step  1  create_task  x3" in text
        assert all(replays_of(failures, run) == [] for run in CLUSTER_503)
        await press_settled(pilot, settle, "y")
        for run in CLUSTER_503:
            [replay] = replays_of(failures, run)
            assert replay.next_step == 1
            assert steps_of(failures, replay.id) == [(0, "slack", "SUCCESS")]
        assert any(note.startswith("3 replays created") for note in notes(app))


async def test_n_on_the_cluster_preview_replays_nothing(
    make_app: MakeApp, settle: Settle, failures: Database
) -> None:
    app = make_app(section="failures")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "R", "n")
        assert all(replays_of(failures, run) == [] for run in CLUSTER_503)


async def test_a_viewer_cannot_replay_a_cluster(
    make_app: MakeApp, settle: Settle, failures: Database
) -> None:
    set_role(failures, "tester", "VIEWER")
    app = make_app(section="failures")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "R")
        assert not isinstance(app.screen, ConfirmScreen)
        assert "cannot replay: needs OPERATOR (you are VIEWER)" in notes(app)
        assert all(replays_of(failures, run) == [] for run in CLUSTER_503)
