"""The import rules of DESIGN.md, checked rather than trusted.

- ``engine`` never imports ``textual`` or ``wfconsole`` (at import time or lazily).
- The console (``wfconsole`` outside ``wfconsole/cli``, which only wires) never
  imports storage or queue libraries: it calls engine service functions.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"
CONSOLE = ROOT / "wfconsole"
WIRING = CONSOLE / "cli"
STORAGE_AND_QUEUE = {"sqlalchemy", "sqlmodel", "huey", "redis", "psycopg", "psycopg2", "alembic"}
ABOVE_ENGINE = {"textual", "wfconsole"}

_PROBE = """
import importlib, json, sys
report = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as exc:
        report[name] = f"import failed: {type(exc).__name__}: {exc}"
        continue
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"textual", "wfconsole"})
    if loaded:
        report[name] = "loaded " + ", ".join(loaded)
        break
print(json.dumps(report))
"""


def module_name(path: Path) -> str:
    """Dotted module name of a source file under ROOT."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files(top: Path) -> Iterator[Path]:
    """Every .py file under ``top``."""
    yield from sorted(p for p in top.rglob("*.py") if "__pycache__" not in p.parts)


def imported_packages(path: Path) -> set[str]:
    """Top-level packages imported anywhere in a file, including inside functions."""
    packages: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            packages.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            packages.add(node.module.split(".")[0])
    return packages


def test_importing_any_engine_module_loads_neither_textual_nor_wfconsole(tmp_path: Path) -> None:
    modules = [module_name(p) for p in python_files(ENGINE) if p.name != "__main__.py"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFCONSOLE_")}
    env.update({"XDG_DATA_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)})
    # One fresh interpreter; modules are imported one by one, so the first one after
    # which textual or wfconsole is in sys.modules is the one that pulled it in.
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {}


@pytest.mark.parametrize("path", list(python_files(ENGINE)), ids=lambda p: module_name(p))
def test_engine_source_never_imports_textual_or_wfconsole(path: Path) -> None:
    assert imported_packages(path) & ABOVE_ENGINE == set()


@pytest.mark.parametrize(
    "path",
    [p for p in python_files(CONSOLE) if WIRING not in p.parents],
    ids=lambda p: module_name(p),
)
def test_console_never_imports_storage_or_queue_libraries(path: Path) -> None:
    assert imported_packages(path) & STORAGE_AND_QUEUE == set()


def test_import_linter_contracts_hold() -> None:
    """The layers, the forbidden imports and the no-cycle rule in pyproject.toml hold.

    Function-level imports count; only ``if TYPE_CHECKING:`` imports are exempt.
    """
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
