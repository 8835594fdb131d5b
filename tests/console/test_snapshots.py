"""SVG snapshots of each screen at the roomy and the SSH-sized terminal.

Regenerate after an intended change with ``pytest tests/console --snapshot-update`` and
look at the report before committing the new SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.console.conftest import DETAIL_ID, settle_app
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.execution_detail import ExecutionDetailScreen

SIZES = [pytest.param((120, 36), id="120x36"), pytest.param((80, 24), id="80x24")]
MakeApp = Callable[..., WfConsoleApp]
SnapCompare = Callable[..., bool]


@pytest.mark.parametrize("size", SIZES)
def test_workflows_screen(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]
) -> None:
    assert snap_compare(make_app(section="workflows"), terminal_size=size, run_before=settle_app)


@pytest.mark.parametrize("size", SIZES)
def test_executions_screen(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]
) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=settle_app)


@pytest.mark.parametrize("size", SIZES)
def test_execution_detail_screen(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]
) -> None:
    async def open_detail(pilot: Pilot[Any]) -> None:
        await settle_app(pilot)
        app = pilot.app
        assert isinstance(app, WfConsoleApp)
        await app.push_screen(ExecutionDetailScreen(app.backend, DETAIL_ID))
        await settle_app(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=open_detail)


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]) -> None:
    assert snap_compare(
        make_app(), terminal_size=size, press=["question_mark"], run_before=settle_app
    )
