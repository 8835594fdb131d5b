"""``wfconsole views save|list|delete``: named executions filters in a private JSON file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from engine.db import Database
from engine.services.saved_views import ViewError, load_views, save_view, views_path
from tests.cli.runner import Cli, runner, write_config


@pytest.fixture
def cli(sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return runner(capsys, write_config(tmp_path / "wfconsole.toml", str(sqlite_db.url)))


def test_save_then_list_shows_the_view(cli: Cli) -> None:
    saved = cli("views", "save", "bad-orders", "status:FAILED", "where:trigger.order = o2")
    assert (saved.code, saved.out.strip()) == (0, "saved view 'bad-orders'")
    listed = cli("views", "list", "--json")
    assert json.loads(listed.out) == [
        {"name": "bad-orders", "filter": "status:FAILED where:trigger.order = o2"}
    ]
    assert "bad-orders" in cli("views", "list").out


def test_saving_a_name_again_replaces_it(cli: Cli) -> None:
    cli("views", "save", "mine", "status:FAILED")
    again = cli("views", "save", "mine", "since:1h")
    assert again.out.strip() == "replaced view 'mine'"
    assert [(v.name, v.filter) for v in load_views()] == [("mine", "since:1h")]


def test_a_malformed_filter_is_refused_in_one_line_and_nothing_is_saved(cli: Cli) -> None:
    refused = cli("views", "save", "oops", "where:order = o2")
    assert refused.code != 0
    assert refused.err_lines == [
        "wfconsole: error: where: 'order': a path starts with trigger., result. or is error"
    ]
    assert load_views() == []


def test_delete_forgets_the_view_and_an_unknown_name_is_an_error(cli: Cli) -> None:
    cli("views", "save", "mine", "status:FAILED")
    assert cli("views", "delete", "mine").out.strip() == "deleted view 'mine'"
    assert load_views() == []
    missing = cli("views", "delete", "mine")
    assert missing.code != 0 and "no view named 'mine'" in missing.err


def test_the_file_is_private_to_its_owner() -> None:
    save_view("mine", "status:FAILED")
    assert stat.S_IMODE(views_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(views_path().parent.stat().st_mode) == 0o700


def test_an_empty_name_is_refused() -> None:
    with pytest.raises(ViewError, match="a view name"):
        save_view("  ", "status:FAILED")
