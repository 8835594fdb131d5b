"""The console at a million executions on PostgreSQL, measured in the running app.

Figures (milliseconds): mounting the executions screen until rows show, applying a status
filter, loading the next page at the end of the window, a live refresh, one dashboard
tick (when the dashboard exists), key latency while a writer adds 1,000 finished
executions per second, and the whole process from ``wfconsole`` to rows on a terminal.
The baseline is the bare keyset query the executions screen runs, timed on the same
database in the same run, so each figure also reads as a ratio to its floor.

The database ``wf_bench_console`` is seeded once (about 2 minutes on 2 cores by COPY)
and kept for the next run; ``--reseed`` starts over, ``--drop`` removes it at the end.

    .venv/bin/python bench/console.py [--executions 1000000] [--samples 30] [--reseed]
        [--drop] [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url
from textual import events

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._args import add_admin_url, print_load
from bench._console_load import FinishedRunWriter, NewestRunWriter, process_start_to_rows
from bench._console_stats import Figure, figures_json, print_figures
from engine.config import ConsoleSettings, Settings
from engine.db import Database, connect_database, upgrade
from engine.demo.seed import seed_demo
from engine.services.executions import list_executions
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend
from wfconsole.console.screens.executions import ExecutionsScreen
from wfconsole.console.views.execution_filter import ExecutionFilter

BENCH_DB = "wf_bench_console"
SIZE = (120, 36)


def bench_url(admin_url: str) -> str:
    """The benchmark database's URL on the same server as ``admin_url``."""
    return make_url(admin_url).set(database=BENCH_DB).render_as_string(hide_password=False)


def estimated_executions(url: str) -> int:
    """The planner's row estimate (instant, unlike count(*)); 0 when there is no table."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = 'workflow_execution'"
        ).fetchone()
    return int(row[0]) if row else 0


def ensure_seeded(admin_url: str, executions: int, reseed: bool) -> str:
    """A migrated database with about ``executions`` rows, reused when already there."""
    url = bench_url(admin_url)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)
        ).fetchone()
        if exists and not reseed and estimated_executions(url) >= executions * 0.95:
            print(f"reusing {BENCH_DB} (~{estimated_executions(url):,} executions)")
            db = connect_database(_settings(url))
            try:
                upgrade(db)  # a newer checkout may have added revisions since the seed
            finally:
                db.dispose()
            return url
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))
    db = connect_database(_settings(url))
    try:
        upgrade(db)
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            if done % 100_000 < 10_000 or done == total:
                print(f"  seeding {done:>9,} / {total:,}  {time.perf_counter() - started:6.1f}s")

        seed_demo(db, executions=executions, actor="bench", progress=progress)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    finally:
        db.dispose()
    return url


def _settings(url: str) -> Settings:
    return Settings.model_validate({"database": {"url": url}, "queue": {"embedded_worker": False}})


def timed(samples: list[float], started: float) -> None:
    samples.append((time.perf_counter() - started) * 1000)


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Let the app run until ``condition`` holds (polling the shared event loop)."""
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the console did not get there in time")
        await asyncio.sleep(0.0005)


async def shown(app: WfConsoleApp, condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds, then draw the whole screen once.

    Textual paints on its next frame (up to 1/60 s later); drawing the full frame here
    counts the painting cost without the frame timer's wait or Pilot's idle detection.
    """
    await until(condition)
    app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)


def send_key(app: WfConsoleApp, key: str) -> None:
    """Deliver a key press as the terminal does, without Pilot's idle detection.

    ``pilot.press`` sleeps until the process looks idle (two naps of at least 20 ms,
    longer while this benchmark's writer thread works), which put a floor of ~40 ms
    under every figure that starts with a key.
    """
    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    app.post_message(event)


async def key_handled(app: WfConsoleApp, key: str) -> None:
    """Press ``key`` and wait until the app has acted on it (a callback queued behind it)."""
    handled = asyncio.Event()
    send_key(app, key)
    app.call_later(handled.set)
    await handled.wait()


def query_baseline(db: Database, samples: int) -> dict[str, list[float]]:
    """The bare keyset queries the screen runs, without the app around them."""
    figures: dict[str, list[float]] = {"newest": [], "failed": [], "deep": []}
    tail = None
    for _ in range(samples):
        started = time.perf_counter()
        rows = list_executions(db, limit=100)
        timed(figures["newest"], started)
        started = time.perf_counter()
        list_executions(db, status="FAILED", limit=100)
        timed(figures["failed"], started)
        tail = rows[-1]
    assert tail is not None
    from engine.services.executions import Cursor

    cursor = Cursor(tail.created_at, tail.id)
    for _ in range(samples):
        started = time.perf_counter()
        page = list_executions(db, limit=100, after=cursor)
        timed(figures["deep"], started)
        cursor = Cursor(page[-1].created_at, page[-1].id)
    return figures


MOUNT_SAMPLES = 5


def bench_app(db: Database, settings: Settings) -> WfConsoleApp:
    """The console on the benchmark database, opening on the workflow list."""
    return WfConsoleApp(
        EngineBackend(db, settings),
        operator="bench",
        console_settings=ConsoleSettings(refresh_interval=3600),
        initial_section="workflows",
    )


async def measure_mount(app: WfConsoleApp, pilot: Any) -> float:
    """``x`` on a settled console until the executions screen's rows are drawn (ms)."""
    for _ in range(2):  # the workflow list's own loads (list, schedules) are not counted
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()
    started = time.perf_counter()
    send_key(app, "x")
    await shown(app, lambda: isinstance(app.screen, ExecutionsScreen) and bool(app.screen.rows))
    return (time.perf_counter() - started) * 1000


async def measure_app(db: Database, settings: Settings, samples: int) -> dict[str, list[float]]:
    """Drive the real app headless at 120x36 and time what an operator waits for."""
    figures: dict[str, list[float]] = {
        "mount": [], "filter": [], "page": [], "refresh": [], "dashboard": [], "keys": []
    }  # fmt: skip
    for _ in range(MOUNT_SAMPLES - 1):  # a first mount happens once per app: fresh apps
        fresh = bench_app(db, settings)
        async with fresh.run_test(size=SIZE) as pilot:
            figures["mount"].append(await measure_mount(fresh, pilot))
    app = bench_app(db, settings)
    async with app.run_test(size=SIZE) as pilot:
        figures["mount"].append(await measure_mount(app, pilot))
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)

        for index in range(samples):
            status = ("FAILED", "SUCCESS")[index % 2]
            started = time.perf_counter()
            screen.set_filter(ExecutionFilter(status=status))
            await shown(app, partial(_first_status_is, screen, status))
            timed(figures["filter"], started)

        screen.set_filter(ExecutionFilter())
        await until(lambda: bool(screen.rows) and screen.rows[0].status != "")
        for _ in range(samples):
            count = len(screen.rows)
            started = time.perf_counter()
            send_key(app, "end")
            await shown(app, partial(_more_rows_than, screen, count))
            timed(figures["page"], started)

        await pilot.press("home")  # live updates apply on the first page (deeper, they wait)
        await app.workers.wait_for_complete()
        with NewestRunWriter(db) as newest:
            for _ in range(samples):
                new_id = newest.add()
                started = time.perf_counter()
                screen.reload()
                await shown(app, partial(_first_id_is, screen, new_id))
                timed(figures["refresh"], started)

        await _measure_dashboard(app, pilot, figures["dashboard"], samples)
        await _measure_keys_under_load(app, pilot, db, figures["keys"])
    return figures


def _first_status_is(screen: ExecutionsScreen, status: str) -> bool:
    return bool(screen.rows) and screen.rows[0].status == status


def _first_id_is(screen: ExecutionsScreen, execution_id: str) -> bool:
    return bool(screen.rows) and screen.rows[0].id == execution_id


def _more_rows_than(screen: ExecutionsScreen, shown: int) -> bool:
    return len(screen.rows) > shown


async def _measure_dashboard(app: WfConsoleApp, pilot: Any, samples: list[float], n: int) -> None:
    """One dashboard tick (its queries plus drawing), when the dashboard section exists."""
    if "dashboard" not in app._modes:
        return
    await app.switch_mode("dashboard")
    await pilot.pause()
    await app.workers.wait_for_complete()
    for _ in range(n):
        started = time.perf_counter()
        reload = getattr(app.screen, "reload", None)
        if reload is None:
            return
        reload()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        timed(samples, started)
    await app.switch_mode("executions")
    await pilot.pause()


async def _measure_keys_under_load(
    app: WfConsoleApp, pilot: Any, db: Database, samples: list[float]
) -> None:
    """Key presses while 1,000 finished executions/s land and the list refreshes every 0.5 s."""
    screen = app.screen
    assert isinstance(screen, ExecutionsScreen)
    screen.refresh_interval = 0.5
    screen.reload()
    with FinishedRunWriter(db, per_second=1000) as writer:
        await asyncio.sleep(1.0)
        for index in range(400):
            started = time.perf_counter()
            await key_handled(app, "down" if index % 40 < 20 else "up")
            await shown(app, lambda: True)
            timed(samples, started)
            await asyncio.sleep(0.01)
    screen.refresh_interval = 3600
    print(f"writer added {writer.written:,} executions at {writer.rate:,.0f}/s during key presses")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON, last")
    add_admin_url(parser)
    args = parser.parse_args()
    print_load()
    url = ensure_seeded(args.admin_url, args.executions, args.reseed)
    settings = _settings(url)
    db = connect_database(settings)
    try:
        baseline = query_baseline(db, args.samples)
        in_app = asyncio.run(measure_app(db, settings, args.samples))
        try:
            process = process_start_to_rows(url, runs=3)
        except (TimeoutError, RuntimeError) as exc:
            print(f"process start not measured: {exc}")
            process = []
    finally:
        db.dispose()
    figures = [
        Figure("mount executions → rows shown", in_app["mount"], baseline["newest"], 100),
        Figure("status filter → rows shown", in_app["filter"], baseline["failed"], 100),
        Figure("end → next page shown", in_app["page"], baseline["deep"], None),
        Figure("live refresh (newest page)", in_app["refresh"], baseline["newest"], 50),
        Figure("dashboard tick", in_app["dashboard"], None, None),
        Figure("key press under 1,000 writes/s", in_app["keys"], None, None),
        Figure("`wfconsole` → rows on a terminal", process, None, None),
    ]
    if not args.json:
        print_figures(figures)
    rows_held = estimated_executions(url)
    if args.drop:
        with psycopg.connect(args.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(BENCH_DB)))
    print(f"load average after {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        print(json.dumps({"executions": rows_held, **figures_json(figures)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
