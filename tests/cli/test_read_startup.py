"""Read commands start without what they do not use (issue 15): no ORM models, no
Alembic, no worker runtime, no HTTP client or console, no cryptography, no parsers of
other commands — each such import cost a command tens of milliseconds at every start.
``executions list``, ``health``, ``workflow list`` and ``stats`` on plain settings load neither
SQLAlchemy nor pydantic (engine/plain_reads). Run in a fresh interpreter, as a shell runs
them."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from engine.config import Settings, _validated, load_settings
from engine.db import Database
from wfconsole.cli import build_parser

HEAVY = (
    "sqlmodel", "sqlalchemy.orm", "alembic", "engine.models", "engine.workers.runtime",
    "engine.execution.executor", "engine.actions.registry", "engine.definitions.schema",
    "httpx", "textual", "croniter", "huey", "cryptography.fernet", "engine.security.crypto",
    "sqlalchemy", "pydantic",
)  # fmt: skip
FULL = ("sqlalchemy", "pydantic")  # what the commands without a plain read still load
PROBE = """
import json, sys
from wfconsole.cli import main
code = main(sys.argv[1:])
heavy = json.loads({heavy!r})
loaded = [name for name in heavy if name in sys.modules]
print("LOADED " + json.dumps([code, loaded]), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("command", "needs"),
    [
        (("executions", "list", "--limit", "5"), ()),
        (("health",), ()),
        (("workflow", "list"), ()),
        (("stats",), ()),
        (("alerts", "list"), FULL),
        (("maintenance", "queue"), ()),  # a queue holding a lock goes the full way
    ],
)
def test_read_command_loads_nothing_it_does_not_use(
    sqlite_db: Database, tmp_path: Path, command: tuple[str, ...], needs: tuple[str, ...]
) -> None:
    config = tmp_path / "wfconsole.toml"
    config.write_text(
        f'[database]\nurl = "{sqlite_db.url}"\n[queue]\npath = "{tmp_path / "queue.db"}"\n',
        encoding="utf-8",
    )
    probe = PROBE.format(heavy=json.dumps(HEAVY))
    done = subprocess.run(
        [sys.executable, "-c", probe, *command, "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    [line] = [x for x in done.stderr.splitlines() if x.startswith("LOADED ")] or [done.stderr]
    code, loaded = json.loads(line.removeprefix("LOADED "))
    assert code in (0, 1), done.stderr  # health and maintenance queue exit 1 when unhealthy
    assert sorted(loaded) == sorted(needs)


def shape(parser: argparse.ArgumentParser) -> dict[object, object]:
    """Everything a parser accepts and how: its prog, options, defaults and sub-commands."""
    found: dict[object, object] = {"prog": parser.prog, "defaults": parser._defaults}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found[action.dest] = {name: shape(sub) for name, sub in action.choices.items()}
        else:
            found[tuple(action.option_strings) or action.dest] = (
                action.dest, action.default, action.required, action.nargs, action.choices,
                action.const, repr(action.type), action.help, action.metavar,
            )  # fmt: skip
    return found


def test_a_command_words_parser_is_that_branch_of_the_whole_tree() -> None:
    whole = shape(build_parser())
    words = whole["command"]
    assert isinstance(words, dict) and {"executions", "health", "workflow"} <= set(words)
    for word in words:
        branch = shape(build_parser(word))
        assert branch == {**whole, "command": {word: words[word]}}, word
    assert shape(build_parser("no-such-command")) == whole
    assert shape(build_parser("--config")) == whole


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["no-such-command"], "argument COMMAND: invalid choice: 'no-such-command'"),
        (["health", "--bogus"], "unrecognized arguments: --bogus"),
        (["workflow"], "the following arguments are required"),
        (["workflow", "nosuch"], "invalid choice: 'nosuch'"),
    ],
)
def test_bad_command_lines_fail_as_with_the_whole_tree(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from wfconsole.cli import main

    with pytest.raises(SystemExit) as exited:
        main(argv)
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
    whole_error = capsys.readouterr().err.splitlines()
    assert exited.value.code == 2
    assert expected in whole_error[0]
    assert whole_error[0] == whole_error[1]


SETTINGS_INPUTS = [
    {},
    {"database": {"url": "sqlite:////tmp/x.db", "pool_size": "3"}},
    {"queue": {"redis_url": "redis://h:6379/0", "concurrency": "7", "signing_key": "k"}},
    {"logging": {"level": "debug"}, "http": {"trusted_proxies": [" 10.0.0.0/8 "]}},
    {"smtp": {"port": "25", "secure": "true"}, "alerts": {"rules": ["no_worker"]}},
    {"security": {"allowed_hosts": ["a.example"], "encryption_key": "k1,k2"}, "cache": {}},
    {"database": {"pool_size": 0}},  # the errors: as the whole model words them
    {"database": {"no_such_key": 1}},
    {"no_such_section": {"a": 1}},
    {"database": 5},
    {"workflow": {"misfire_policy": "sometimes"}, "queue": {"concurrency": "x"}},
]


def unwrapped(value: object) -> object:
    """A settings value as plain data, secrets revealed, set fields and types kept."""
    if isinstance(value, BaseModel):
        fields = {name: unwrapped(getattr(value, name)) for name in type(value).model_fields}
        return (type(value).__name__, sorted(value.model_fields_set), fields)
    if isinstance(value, SecretStr):
        return ("secret", value.get_secret_value())
    return (type(value).__name__, value)


@pytest.mark.parametrize("data", SETTINGS_INPUTS)
def test_settings_validate_as_the_whole_model_would(data: dict[str, object]) -> None:
    """Only the sections a file or the environment gives are validated; the result, and
    any error, is the whole model's."""
    try:
        expected: object = unwrapped(Settings.model_validate(data))
    except ValidationError as exc:
        expected = exc.errors()
    try:
        found: object = unwrapped(_validated(data))
    except ValidationError as exc:
        found = exc.errors()
    assert found == expected


def test_settings_on_the_defaults_build_no_validator() -> None:
    probe = (
        "import json\nfrom engine.config import Settings, load_settings\n"
        "settings = load_settings(environ={})\n"
        "models = [Settings, *(f.default_factory for f in Settings.model_fields.values())]\n"
        "print(json.dumps([m.__name__ for m in models if m.__pydantic_complete__]))\n"
        "print(json.dumps(settings.model_dump(mode='json')['queue']['concurrency']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True,
        cwd=Path(__file__).resolve().parent,
    )  # fmt: skip
    built, concurrency = (json.loads(line) for line in done.stdout.splitlines())
    assert built == []
    assert concurrency == load_settings(environ={}).queue.concurrency == 5
