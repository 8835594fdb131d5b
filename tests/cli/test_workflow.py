"""``wfconsole workflow …`` and ``wfconsole db upgrade`` as a user runs them: files in,
files out, one clear line on stderr for every mistake, and nothing stored by a refusal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import wfconsole
from engine.db import Database, head_revision
from engine.services.workflows import export_documents
from tests.cli.runner import Cli, Outcome, runner, write_config
from tests.test_definition import EXAMPLE_PATH, MALFORMED, Malformed, example_document
from wfconsole.cli import main

EXAMPLE_NAME = "large-invoice-alert"


@pytest.fixture
def cli(any_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Runs ``wfconsole ARGS --config <a file naming the test database>`` in-process."""
    return runner(capsys, write_config(tmp_path / "test-config.toml", any_db.url))


@pytest.fixture
def sqlite_cli(sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """The same on SQLite only, for commands whose database does not matter."""
    return runner(capsys, write_config(tmp_path / "test-config.toml", sqlite_db.url))


def write(path: Path, document: Any) -> Path:
    path.write_text(document if isinstance(document, str) else json.dumps(document), "utf-8")
    return path


def stored_names(cli: Cli) -> list[str]:
    listing = cli("workflow", "list", "--json")
    assert listing.code == 0, listing.err
    return [row["name"] for row in json.loads(listing.out)]


def assert_one_line_error(outcome: Outcome, *fragments: str) -> None:
    assert outcome.code == 1
    assert outcome.out == ""
    assert len(outcome.err_lines) == 1, outcome.err
    assert outcome.err_lines[0].startswith("wfconsole: error: ")
    for fragment in fragments:
        assert fragment in outcome.err_lines[0]
    assert "Traceback" not in outcome.err


def named_in_error(case: Malformed) -> tuple[str, ...]:
    return (f"{case.path}: ", case.fragment) if case.path else (case.fragment,)


# --- validate ---------------------------------------------------------------------------


def test_validate_accepts_the_contract_example(sqlite_cli: Cli) -> None:
    outcome = sqlite_cli("workflow", "validate", str(EXAMPLE_PATH))

    assert outcome.code == 0
    assert outcome.out == f"{EXAMPLE_PATH}: ok ({EXAMPLE_NAME})\n"


def test_validate_stores_nothing(sqlite_cli: Cli) -> None:
    sqlite_cli("workflow", "validate", str(EXAMPLE_PATH))

    assert stored_names(sqlite_cli) == []


@pytest.mark.parametrize("case", MALFORMED, ids=[case.id for case in MALFORMED])
def test_validate_refuses_malformed_file_in_one_line(
    case: Malformed, sqlite_cli: Cli, tmp_path: Path
) -> None:
    bad = write(tmp_path / f"{case.id}.json", case.text)

    outcome = sqlite_cli("workflow", "validate", str(bad))

    assert_one_line_error(outcome, str(bad), *named_in_error(case))


def test_validate_of_a_missing_file_is_one_line(sqlite_cli: Cli, tmp_path: Path) -> None:
    outcome = sqlite_cli("workflow", "validate", str(tmp_path / "nope.json"))

    assert_one_line_error(outcome, "nope.json: no such file")


def test_validate_of_a_binary_file_is_one_line(sqlite_cli: Cli, tmp_path: Path) -> None:
    binary = tmp_path / "image.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")

    outcome = sqlite_cli("workflow", "validate", str(binary))

    assert_one_line_error(outcome, "image.json: not UTF-8 text")


# --- import / export / list -------------------------------------------------------------


def test_import_reports_created_version_one(cli: Cli) -> None:
    outcome = cli("workflow", "import", str(EXAMPLE_PATH))

    assert outcome.code == 0
    assert outcome.out == f"{EXAMPLE_NAME}: created (version 1)\n"


def test_import_then_export_round_trips_the_example_unchanged(cli: Cli) -> None:
    cli("workflow", "import", str(EXAMPLE_PATH))

    exported = cli("workflow", "export", EXAMPLE_NAME)

    assert exported.code == 0
    assert json.loads(exported.out) == example_document()


def test_exported_file_imports_as_unchanged(cli: Cli, tmp_path: Path) -> None:
    cli("workflow", "import", str(EXAMPLE_PATH))
    target = tmp_path / "exported.json"
    cli("workflow", "export", EXAMPLE_NAME, "-o", str(target))

    again = cli("workflow", "import", str(target))

    assert json.loads(target.read_text("utf-8")) == example_document()
    assert again.out == f"{EXAMPLE_NAME}: unchanged (version 1)\n"


def test_export_without_name_prints_every_workflow_as_an_array(cli: Cli, tmp_path: Path) -> None:
    other = write(tmp_path / "other.json", other_workflow("other"))
    cli("workflow", "import", str(EXAMPLE_PATH), str(other))

    exported = cli("workflow", "export")

    assert json.loads(exported.out) == [example_document(), other_workflow("other")]


def test_list_shows_the_imported_workflow(cli: Cli) -> None:
    cli("workflow", "import", str(EXAMPLE_PATH))

    listing = cli("workflow", "list")

    header, row = listing.out.splitlines()
    assert header.split() == [
        "NAME",
        "ENABLED",
        "VER",
        "TRIGGERS",
        "RUNS",
        "SUCCESS",
        "LAST",
        "RUN",
    ]
    assert row.split() == [EXAMPLE_NAME, "yes", "1", "manual,event,schedule,webhook", "0", "-", "-"]


def test_list_json_describes_the_imported_workflow(cli: Cli) -> None:
    cli("workflow", "import", str(EXAMPLE_PATH))

    (row,) = json.loads(cli("workflow", "list", "--json").out)

    assert {key: row[key] for key in ("name", "enabled", "version", "triggers", "actions")} == {
        "name": EXAMPLE_NAME,
        "enabled": True,
        "version": 1,
        "triggers": ["manual", "event", "schedule", "webhook"],
        "actions": 8,
    }


def test_list_of_an_empty_database_says_none(cli: Cli) -> None:
    assert cli("workflow", "list").out.splitlines()[-1] == "(none)"


def test_importing_the_same_file_twice_reports_unchanged(cli: Cli) -> None:
    cli("workflow", "import", str(EXAMPLE_PATH))

    again = cli("workflow", "import", str(EXAMPLE_PATH))

    assert again.code == 0
    assert again.out == f"{EXAMPLE_NAME}: unchanged (version 1)\n"


def test_importing_a_changed_file_bumps_the_version(cli: Cli, tmp_path: Path) -> None:
    cli("workflow", "import", str(EXAMPLE_PATH))
    changed = write(tmp_path / "changed.json", example_document() | {"priority": 8})

    outcome = cli("workflow", "import", str(changed))

    assert outcome.out == f"{EXAMPLE_NAME}: updated (version 2)\n"


def test_import_accepts_yaml_files(cli: Cli, tmp_path: Path) -> None:
    as_yaml = write(tmp_path / "invoice.yaml", yaml.safe_dump(example_document()))

    cli("workflow", "import", str(as_yaml))

    assert json.loads(cli("workflow", "export", EXAMPLE_NAME).out) == example_document()


@pytest.mark.parametrize("case", MALFORMED, ids=[case.id for case in MALFORMED])
def test_import_refuses_malformed_file_in_one_line_and_stores_nothing(
    case: Malformed, cli: Cli, tmp_path: Path
) -> None:
    bad = write(tmp_path / f"{case.id}.json", case.text)

    outcome = cli("workflow", "import", str(bad))

    assert_one_line_error(outcome, str(bad), *named_in_error(case))
    assert stored_names(cli) == []


def test_import_of_several_files_with_one_bad_stores_none(cli: Cli, tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", other_workflow("good"))
    bad = write(tmp_path / "bad.json", example_document() | {"timeout": 0})

    outcome = cli("workflow", "import", str(good), str(EXAMPLE_PATH), str(bad))

    assert_one_line_error(outcome, "bad.json: timeout: ")
    assert stored_names(cli) == []


def test_import_refusing_a_later_file_in_the_database_stores_none(cli: Cli, tmp_path: Path) -> None:
    rival = example_document() | {"name": "rival"}  # same webhook path as the example
    rival_file = write(tmp_path / "rival.json", rival)

    outcome = cli("workflow", "import", str(EXAMPLE_PATH), str(rival_file))

    assert_one_line_error(outcome, "rival.json: triggers[3].path: already used by workflow")
    assert stored_names(cli) == []


def test_import_of_two_files_defining_one_name_is_refused(cli: Cli, tmp_path: Path) -> None:
    copy = write(tmp_path / "copy.json", example_document())

    outcome = cli("workflow", "import", str(EXAMPLE_PATH), str(copy))

    assert_one_line_error(outcome, f"'{EXAMPLE_NAME}' is defined by more than one file")
    assert stored_names(cli) == []


def other_workflow(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": None,
        "enabled": False,
        "category": None,
        "tags": [],
        "priority": 5,
        "max_retries": 0,
        "retry_delay": 60,
        "timeout": 30,
        "triggers": [{"type": "event", "event": "invoice.paid"}],
        "conditions": None,
        "actions": [{"type": "create_task", "title": "Thank {{ trigger.customer }}"}],
    }


def test_export_of_an_unknown_name_is_one_line(cli: Cli) -> None:
    outcome = cli("workflow", "export", "no-such-workflow")

    assert_one_line_error(outcome, "no workflow named 'no-such-workflow'")


def test_export_to_a_directory_writes_one_file_per_workflow(cli: Cli, tmp_path: Path) -> None:
    cli(
        "workflow",
        "import",
        str(EXAMPLE_PATH),
        str(write(tmp_path / "o.json", other_workflow("o"))),
    )
    target = tmp_path / "exported"

    outcome = cli("workflow", "export", "-o", f"{target}/")

    assert outcome.code == 0
    assert sorted(path.name for path in target.iterdir()) == [f"{EXAMPLE_NAME}.json", "o.json"]
    assert json.loads((target / f"{EXAMPLE_NAME}.json").read_text("utf-8")) == example_document()
    assert json.loads((target / "o.json").read_text("utf-8")) == other_workflow("o")


# --- versions ---------------------------------------------------------------------------


def test_versions_lists_every_saved_version_newest_first(cli: Cli, tmp_path: Path) -> None:
    cli("workflow", "import", str(EXAMPLE_PATH))
    cli(
        "workflow", "import", str(write(tmp_path / "v2.json", example_document() | {"priority": 8}))
    )

    outcome = cli("workflow", "versions", EXAMPLE_NAME)

    lines = outcome.out.splitlines()
    assert lines[0].split() == ["VERSION", "SAVED", "AT", "BY"]
    assert [line.split()[0] for line in lines[1:]] == ["2", "1"]


def test_versions_json_holds_each_definition(cli: Cli, tmp_path: Path) -> None:
    second = example_document() | {"priority": 8}
    cli("workflow", "import", str(EXAMPLE_PATH))
    cli("workflow", "import", str(write(tmp_path / "v2.json", second)))

    versions = json.loads(cli("workflow", "versions", EXAMPLE_NAME, "--json").out)

    assert [(v["version"], v["definition"]) for v in versions] == [
        (2, second),
        (1, example_document()),
    ]


def test_versions_of_an_unknown_workflow_is_one_line(cli: Cli) -> None:
    assert_one_line_error(cli("workflow", "versions", "ghost"), "no workflow named 'ghost'")


# --- db upgrade and un-migrated databases -----------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_db_upgrade_migrates_a_new_database(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = request.getfixturevalue(f"{kind}_url")
    cli = runner(capsys, write_config(tmp_path / "new.toml", url))

    outcome = cli("db", "upgrade")

    assert outcome.code == 0
    assert outcome.out.endswith(f": upgraded from an empty database to {head_revision()}\n")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_second_db_upgrade_says_already_at_head(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = request.getfixturevalue(f"{kind}_url")
    cli = runner(capsys, write_config(tmp_path / "new.toml", url))
    cli("db", "upgrade")

    outcome = cli("db", "upgrade")

    assert outcome.code == 0
    assert outcome.out.endswith(f": already at revision {head_revision()}\n")


def test_db_upgrade_output_hides_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = runner(capsys, write_config(tmp_path / "c.toml", "postgresql://u:hunter2@127.0.0.1:1/x"))

    outcome = cli("db", "upgrade")

    assert_one_line_error(outcome, "cannot connect")
    assert "hunter2" not in outcome.err


def test_command_on_unmigrated_postgresql_asks_for_db_upgrade(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = runner(capsys, write_config(tmp_path / "new.toml", postgres_url))

    outcome = cli("workflow", "list")

    assert_one_line_error(outcome, "wfconsole db upgrade")


def test_import_into_unmigrated_postgresql_asks_for_db_upgrade(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = runner(capsys, write_config(tmp_path / "new.toml", postgres_url))

    outcome = cli("workflow", "import", str(EXAMPLE_PATH))

    assert_one_line_error(outcome, "wfconsole db upgrade")


def test_config_given_before_the_command_is_honoured(
    sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "before.toml", sqlite_db.url)

    code = main(["--config", str(config), "workflow", "import", str(EXAMPLE_PATH)])
    capsys.readouterr()

    assert code == 0
    assert [d["name"] for d in export_documents(sqlite_db)] == [EXAMPLE_NAME]


def test_bad_config_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[queue]\nconcurrency = "many"\n', encoding="utf-8")

    outcome = runner(capsys, config)("workflow", "list")

    assert_one_line_error(outcome, "queue.concurrency")


# --- the real process -------------------------------------------------------------------


def run_process(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a wfconsole process from a directory outside the source tree."""
    # PYTHONPATH names the package this test imported, so both runs use the same code.
    package_root = Path(wfconsole.__file__).resolve().parent.parent
    return subprocess.run(
        command,
        cwd=cwd,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(package_root),
            "HOME": str(cwd),
            "XDG_DATA_HOME": str(cwd / "data"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def bad_timeout_file(tmp_path: Path) -> Path:
    return write(tmp_path / "bad.json", example_document() | {"timeout": 0})


def test_console_script_prints_one_line_and_no_traceback_for_a_bad_file(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("wfconsole")
    if not script.exists():
        pytest.skip(f"the wfconsole script is not installed next to {sys.executable}")
    bad = bad_timeout_file(tmp_path)

    completed = run_process([str(script), "workflow", "validate", str(bad)], tmp_path)

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr == f"wfconsole: error: {bad}: timeout: Input should be greater than 0\n"


def test_python_m_wfconsole_cli_prints_one_line_and_no_traceback_for_a_bad_file(
    tmp_path: Path,
) -> None:
    bad = bad_timeout_file(tmp_path)

    completed = run_process(
        [sys.executable, "-m", "wfconsole.cli", "workflow", "validate", str(bad)], tmp_path
    )

    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert completed.stderr == f"wfconsole: error: {bad}: timeout: Input should be greater than 0\n"
