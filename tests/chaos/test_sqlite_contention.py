"""One SQLite file under every writer the local deployment has, at once.

A ``huey_consumer`` with 8 threads, ``wfconsole serve`` taking webhooks from several
clients, and the console (with its embedded worker, as ``wfconsole`` starts it) flipping
between the live-refreshing dashboard and executions screens. Not one "database is
locked" may reach a log, a stored error or the screen; every accepted webhook runs, and
the counters equal the table. ``WFCONSOLE_SOAK=1`` sends ten times as many webhooks.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from engine.config import ConsoleSettings
from engine.db import open_database
from engine.execution import claims as store
from engine.security import outbound
from tests import http_sink as sink_fixtures
from tests.chaos.harness import (
    all_final,
    assert_recovered,
    define_hook_workflow,
    scaled,
    set_keys,
    statuses,
)
from tests.chaos.processes import running_serve
from tests.console.conftest import screen_text
from tests.consumers import Deployment, deployment, running_consumer
from tests.http_sink import HttpSink, Reply
from wfconsole.cli.commands.console import background_services
from wfconsole.console import app as app_module
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend

pytestmark = [pytest.mark.chaos, pytest.mark.slow]
http_sink = sink_fixtures.http_sink

LOCKED = "database is locked"
CLIENTS = 4
HOOKS_PER_CLIENT = scaled(150, 1500)
WORKFLOW = "contention"


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    outbound.close_clients()


class WatchedConsole(WfConsoleApp):
    """The console, keeping every notification it showed (errors arrive as toasts)."""

    # Textual reads CSS paths relative to the class's module: point at the app's own.
    CSS_PATH = [str(Path(app_module.__file__).parent / path) for path in WfConsoleApp.CSS_PATH]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notices: list[str] = []

    def notify(self, message: str, **options: Any) -> None:
        self.notices.append(str(message))
        super().notify(message, **options)


class HookClients:
    """Threads posting webhooks to ``serve``; they keep the ids of accepted requests."""

    def __init__(self, url: str, clients: int, each: int) -> None:
        self.url, self.each = url, each
        self.accepted: list[str] = []
        self.other: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._post, daemon=True) for _ in range(clients)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def _post(self) -> None:
        with httpx.Client(timeout=60.0) as client:
            for n in range(self.each):
                try:
                    reply = client.post(f"{self.url}/hooks/{WORKFLOW}", json={"n": n})
                except httpx.HTTPError as exc:  # serve went away: the test reports it
                    with self._lock:
                        self.other.append((0, repr(exc)))
                    return
                with self._lock:
                    if reply.status_code == 202:
                        self.accepted += reply.json()["executions"]
                    else:
                        self.other.append((reply.status_code, reply.text))


class LogWatch(logging.Handler):
    """Every log record of this process at WARNING or above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]}"
        self.lines.append(text)


def stored_mentions(deployed: Deployment, text: str) -> int:
    """Executions errors and log lines containing ``text``."""
    logs = store.LOGS.c
    with deployed.db.engine.connect() as conn:
        errors = conn.execute(
            sa.select(sa.func.count()).where(store.E.error.contains(text))
        ).scalar_one()
        lines = conn.execute(
            sa.select(sa.func.count()).where(logs.message.contains(text))
        ).scalar_one()
    return int(errors) + int(lines)


@pytest.mark.timeout(240 if HOOKS_PER_CLIENT <= 150 else 1800)
async def test_consumer_serve_and_console_share_sqlite_without_database_is_locked(
    http_sink: HttpSink, tmp_path: Path
) -> None:
    http_sink.default = Reply(delay=0.005)
    watch = LogWatch()
    logging.getLogger().addHandler(watch)
    with ExitStack() as stack:
        stack.callback(logging.getLogger().removeHandler, watch)
        deployed = stack.enter_context(deployment("sqlite", tmp_path, max_concurrent_executions=50))
        set_keys(deployed, "security", rate_limit_per_minute=1_000_000)  # 4 clients, 1 address
        define_hook_workflow(deployed.db, WORKFLOW, http_sink)
        consumer = stack.enter_context(
            running_consumer(deployed, tmp_path / "consumer.log", workers=8)
        )
        serve = stack.enter_context(running_serve(deployed, tmp_path / "serve.log"))
        # The console opens the database and starts its embedded worker as `wfconsole` does.
        console_db = open_database(deployed.settings)
        stack.callback(console_db.dispose)
        for service in background_services(deployed.settings, console_db):
            stack.enter_context(service)
        app = WatchedConsole(
            EngineBackend(console_db, deployed.settings),
            operator="chaos",
            console_settings=ConsoleSettings(refresh_interval=0.1),
            initial_section="dashboard",
        )
        clients = HookClients(serve.url, CLIENTS, HOOKS_PER_CLIENT)
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            clients.start()
            deadline = time.monotonic() + 150
            while clients.alive() or not all_final(deployed.db, clients.accepted):
                assert time.monotonic() < deadline, statuses(deployed.db, clients.accepted)
                for key in ("x", "d"):
                    await pilot.press(key)
                    await pilot.pause(0.4)
            await pilot.press("x")
            shown = ""
            for _ in range(150):  # the live refresh catches up with the finished runs
                await pilot.press("home")  # back to the newest, if the flood left us deeper
                await pilot.pause(0.2)
                shown = screen_text(app)
                if WORKFLOW in shown and "SUCCESS" in shown and "PENDING" not in shown:
                    break
            else:
                pytest.fail(f"the executions screen never showed the finished runs:\n{shown}")
        await asyncio.sleep(0)
        consumer_log = consumer.log_tail(10**6)
        serve_log = serve.log_tail(10**6)

    total = CLIENTS * HOOKS_PER_CLIENT
    assert not clients.other, clients.other[:5]
    assert len(clients.accepted) == total
    for log in (consumer_log, serve_log):
        assert LOCKED not in log, [line for line in log.splitlines() if LOCKED in line][:3]
    assert not [line for line in watch.lines if LOCKED in line], watch.lines[:5]
    assert not [notice for notice in app.notices if LOCKED in notice], app.notices[:5]
    assert stored_mentions(deployed, LOCKED) == 0
    print(f"\n{total} webhooks accepted and run; {len(watch.lines)} warning(s) in-process")
    assert_recovered(deployed.db, WORKFLOW, clients.accepted, http_sink, max_repeats=0)
