"""Running ``wfconsole`` in-process as a test would type it, and what it printed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from wfconsole.cli import main


@dataclass(frozen=True)
class Outcome:
    """What one CLI run did."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


Cli = Callable[..., Outcome]


def write_config(path: Path, url: str) -> Path:
    path.write_text(f"[database]\nurl = {json.dumps(url)}\n", encoding="utf-8")
    return path


def runner(capsys: pytest.CaptureFixture[str], config: Path) -> Cli:
    def run(*args: str) -> Outcome:
        try:
            code = main([*args, "--config", str(config)])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
