"""Redraw docs/images/console.svg: the dashboard over a fresh demo database, 120x36.

    .venv/bin/python docs/images/console_screenshot.py [OUT.svg]

Seeds a demo database (``wfconsole demo --no-open``) in a temporary directory, with
nothing of the developer's configuration, then exports the dashboard as Textual draws it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "console.svg"
SIZE = (120, 36)
EXECUTIONS = 30_000  # enough that the last hour's charts have bars


async def _export(out: Path) -> None:
    from engine.config import load_settings
    from engine.db import open_database
    from wfconsole.console.app import WfConsoleApp
    from wfconsole.console.engine_backend import EngineBackend

    settings = load_settings()
    db = open_database(settings)
    try:
        app = WfConsoleApp(
            EngineBackend(db, settings),
            operator="ops",
            console_settings=settings.console,
            initial_section="dashboard",
        )
        async with app.run_test(size=SIZE):
            for _ in range(6):  # the first refresh, then its follow-up reads
                await asyncio.sleep(0.3)
                await app.workers.wait_for_complete()
            out.write_text(app.export_screenshot(title="wfconsole"), encoding="utf-8")
    finally:
        db.dispose()


def main() -> int:
    """Seed, export, print where the SVG went."""
    out = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else OUT
    with tempfile.TemporaryDirectory(prefix="wf-shot-") as home:
        for name in list(os.environ):
            if name.startswith("WFCONSOLE_") or name in ("DATABASE_URL", "REDIS_URL"):
                del os.environ[name]
        os.environ.update(XDG_DATA_HOME=home, USER="ops")
        os.chdir(home)  # no ./wfconsole.toml
        seed = [sys.executable, "-m", "wfconsole", "demo", "--no-open"]
        subprocess.run([*seed, "--executions", str(EXECUTIONS)], check=True)
        asyncio.run(_export(out))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
