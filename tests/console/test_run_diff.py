"""The run diff view: ``=`` on an execution, ``tab`` to pick another run, nothing to compare.

Against the seeded SQLite database (``diff_seed``): invoice-alert's run 8 failed at step 1,
run 7 is its last success.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from engine.db import Database
from tests.console.conftest import HOSTILE_ERROR, HOSTILE_NAME, Settle, execution_id, screen_text
from tests.console.diff_seed import BAD_RUN, GOOD_RUN, STEP_ERROR, add_diff_steps
from tests.console.helpers import press_settled
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.execution_detail import ExecutionDetailScreen
from wfconsole.console.screens.executions import ExecutionsScreen
from wfconsole.console.screens.run_diff import RunDiffScreen
from wfconsole.console.screens.run_picker import RunPickerScreen

MakeApp = Callable[..., WfConsoleApp]


async def open_diff_of(pilot: Pilot[Any], settle: Settle, run: str) -> RunDiffScreen:
    """Put the list's cursor on ``run`` and press ``=``."""
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ExecutionsScreen)
    screen.table.move_cursor(row=screen.table.get_row_index(run))
    await press_settled(pilot, settle, "equals_sign")
    diff_screen = pilot.app.screen
    assert isinstance(diff_screen, RunDiffScreen)
    return diff_screen


async def test_equals_compares_the_run_with_the_last_success_of_its_workflow(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    add_diff_steps(console_db)
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_diff_of(pilot, settle, BAD_RUN)
        assert screen.diff is not None
        assert (screen.diff.left.id, screen.diff.right.id) == (BAD_RUN, GOOD_RUN)
        text = screen_text(app)
        assert f"left   {BAD_RUN}  v1  FAILED" in text
        assert f"right  {GOOD_RUN}  v1  SUCCESS   2.5s    event" in text
        assert "invoice-alert · left: this run · right: the last success" in text
        assert "trigger data differs at 1 path:" in text
        assert "trigger.invoice.id  8  |  7" in text
        assert "definition: the same version (v1)" in text
        assert "first difference: step 1 (create_task) · status, result, error" in text
        # The first difference's values, literally (markup and escapes are not acted on).
        assert "[@click=app.quit]boom[/] ␛[2J" in text
        assert 'right  {"task_id": 7}' in text
        await press_settled(pilot, settle, "escape")
        assert isinstance(app.screen, ExecutionsScreen)


async def test_the_step_table_marks_the_first_difference_and_names_what_differs(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    add_diff_steps(console_db)
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_diff_of(pilot, settle, BAD_RUN)
        lines = screen_text(app).splitlines()
        [step0] = [line for line in lines if line.strip().startswith("0  slack")]
        [step1] = [line for line in lines if line.lstrip(" ▶").startswith("1  create_task")]
        assert "SUCCESS 130ms" in step0 and "SUCCESS 120ms" in step0
        assert step0.rstrip().endswith("-")  # nothing differs at step 0
        assert step1.lstrip().startswith("▶")
        assert "FAILED 2.3s HTTP 503" in step1 and "SUCCESS 15ms" in step1
        assert "status, result, error" in step1


async def test_equals_in_the_execution_detail_opens_the_same_comparison(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    add_diff_steps(console_db)
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        screen.table.move_cursor(row=screen.table.get_row_index(BAD_RUN))
        await press_settled(pilot, settle, "enter")
        assert isinstance(app.screen, ExecutionDetailScreen)
        await press_settled(pilot, settle, "equals_sign")
        diff_screen = app.screen
        assert isinstance(diff_screen, RunDiffScreen) and diff_screen.diff is not None
        assert (diff_screen.diff.left.id, diff_screen.diff.right.id) == (BAD_RUN, GOOD_RUN)
        await press_settled(pilot, settle, "escape")
        assert isinstance(app.screen, ExecutionDetailScreen)


async def test_tab_picks_another_run_of_the_workflow_to_compare_with(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    add_diff_steps(console_db)
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_diff_of(pilot, settle, BAD_RUN)
        await press_settled(pilot, settle, "tab")
        picker = app.screen
        assert isinstance(picker, RunPickerScreen)
        # invoice-alert's other runs, newest first; the cursor on the one compared with now.
        listed = [cell.plain for cell in picker.table.get_column("id")]
        assert listed == [execution_id(n) for n in (7, 9, 10, 11, 12)]
        assert picker.table.cursor_key == GOOD_RUN
        await press_settled(pilot, settle, "down", "enter")
        assert app.screen is screen
        assert screen.diff is not None
        assert (screen.diff.left.id, screen.diff.right.id) == (BAD_RUN, execution_id(9))
        text = screen_text(app)
        assert f"right  {execution_id(9)}  v1  RUNNING" in text
        assert "left: this run · right: a picked run" in text
        # escape in the picker keeps the comparison as it is.
        await press_settled(pilot, settle, "tab")
        await press_settled(pilot, settle, "escape")
        assert app.screen is screen and screen.diff.right.id == execution_id(9)


async def test_a_run_with_nothing_to_compare_says_so_and_tab_still_picks(
    make_app: MakeApp, settle: Settle
) -> None:
    only_success = execution_id(13)  # nightly-report's one SUCCESS: no other to compare with
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_diff_of(pilot, settle, only_success)
        assert screen.diff is None
        text = screen_text(app)
        assert "Nothing to compare: no other successful run of the workflow of" in text
        assert "tab picks another run of nightly-report to compare with" in text
        await press_settled(pilot, settle, "tab", "enter")  # the newest other run: 14
        assert screen.diff is not None and screen.diff.right.id == execution_id(14)


async def test_the_diff_shows_hostile_names_and_errors_literally(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_diff_of(pilot, settle, execution_id(2))  # the hostile FAILED run
        assert screen.diff is not None and screen.diff.right.id == execution_id(1)
        text = screen_text(app)
        assert HOSTILE_NAME in text  # the workflow's name, in the status line
        assert "boom ␛[2J [red]markup[/red] [@click=app.quit]click me[/]" in text
        assert HOSTILE_ERROR not in text  # the raw escape sequence never reaches the screen
        assert app.is_running


async def test_the_diff_fits_80x24(make_app: MakeApp, settle: Settle, console_db: Database) -> None:
    add_diff_steps(console_db)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_diff_of(pilot, settle, BAD_RUN)
        lines = screen_text(app).splitlines()
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        assert lines[-1].strip() == "tab Compare with…  esc Back"
        assert any("▶" in line and "create_task" in line for line in lines)
        assert STEP_ERROR not in "\n".join(lines)
