"""SVG snapshots of the failures section and of one cluster's executions, at the roomy and
the SSH-sized terminal (regenerate with ``--snapshot-update`` and look at the report)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from engine.db import Database
from tests.console.conftest import settle_app
from tests.console.failures_seed import use_failures
from wfconsole.console.app import WfConsoleApp

SIZES = [pytest.param((120, 36), id="120x36"), pytest.param((80, 24), id="80x24")]
MakeApp = Callable[..., WfConsoleApp]
SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def failures(console_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    use_failures(console_db, monkeypatch)


@pytest.mark.parametrize("size", SIZES)
def test_failures_screen(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]
) -> None:
    assert snap_compare(make_app(section="failures"), terminal_size=size, run_before=settle_app)


@pytest.mark.parametrize("size", SIZES)
def test_failure_cluster_screen(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]
) -> None:
    async def open_cluster(pilot: Pilot[Any]) -> None:
        await settle_app(pilot)
        await pilot.press("enter")
        await settle_app(pilot)

    assert snap_compare(make_app(section="failures"), terminal_size=size, run_before=open_cluster)
