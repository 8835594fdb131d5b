"""SVG snapshots of the editor (valid, invalid) and the dry-run result at both sizes.

Regenerate after an intended change with ``--snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import TextArea

from tests.console.conftest import settle_app
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.editor import EditorScreen

SIZES = [pytest.param((120, 36), id="120x36"), pytest.param((80, 24), id="80x24")]
MakeApp = Callable[..., WfConsoleApp]
SnapCompare = Callable[..., bool]


def document(url: str = "https://erp.example.com/hook") -> dict[str, Any]:
    return {
        "name": "large-invoice",
        "description": "Tell finance about invoices over 1000",
        "triggers": [{"type": "event", "event": "invoice.created"}],
        "conditions": {
            "all": [
                {"path": "trigger.amount", "op": "gt", "value": 1000},
                {"not": {"path": "trigger.test", "op": "eq", "value": True}},
            ]
        },
        "actions": [
            {"type": "slack", "channel": "#finance", "text": "Invoice {{ trigger.id }}"},
            {
                "type": "webhook",
                "url": url,
                "headers": {"Authorization": "Bearer ${ERP_TOKEN}"},
                "body": {"id": "{{ trigger.id }}", "amount": "{{ trigger.amount }}"},
            },
        ],
    }


def open_editor(doc: dict[str, Any], *keys: str) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle_app(pilot)
        app = pilot.app
        assert isinstance(app, WfConsoleApp)
        await app.push_screen(EditorScreen(app.backend, doc, original_name=None))
        await settle_app(pilot)
        if keys:
            await pilot.press(*keys)
            await settle_app(pilot)
        for screen in app.screen_stack:
            for text_area in screen.query(TextArea):
                # A blinking cursor makes the SVG flaky; the style update drops lines cached
                # while the cursor was blinked off (their cache key ignores cursor_blink).
                text_area.cursor_blink = False
                text_area.notify_style_update()
                text_area.refresh()
        await settle_app(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_editor_valid(snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]) -> None:
    app = make_app(section="workflows")
    assert snap_compare(app, terminal_size=size, run_before=open_editor(document()))


@pytest.mark.parametrize("size", SIZES)
def test_editor_invalid(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]
) -> None:
    doc = document(url="ftp://erp.example.com/hook")
    doc["actions"][0]["channel"] = ""
    app = make_app(section="workflows")
    assert snap_compare(app, terminal_size=size, run_before=open_editor(doc))


@pytest.mark.parametrize("size", SIZES)
def test_dry_run_result(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]
) -> None:
    app = make_app(section="workflows")
    assert snap_compare(app, terminal_size=size, run_before=open_editor(document(), "ctrl+r"))
