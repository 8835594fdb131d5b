"""A full disk under the local deployment (SQLite + SqliteHuey), on small tmpfs mounts.

The queue file (``queue.path``) and the database live on two mounts so each can fill on
its own; in the default layout they share one folder and fill together, which is the
second phase here. With ``wfconsole serve`` and a ``wfconsole worker`` running:

- queue folder full: a trigger still commits its row and answers 202 / exit 0; only its
  message is missing, and the sweeper enqueues it once there is room again;
- database folder full too: a trigger is refused clearly — webhook 503 with Retry-After,
  CLI exit 1 with one line on stderr and no traceback — and stores nothing;
- space freed: every accepted run ends SUCCESS, new triggers run at once, the counters
  equal the table.

A command started while the disk is full says so ("disk full"), not "cannot connect".
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from engine.config import CONFIG_ENV
from engine.db import open_database
from engine.execution.claims import EXECUTIONS
from engine.queue.sweeper import STALE_PENDING
from engine.security import outbound
from tests import http_sink as sink_fixtures
from tests.chaos.harness import (
    all_final,
    assert_recovered,
    define_hook_workflow,
    queue_sections,
    statuses,
)
from tests.chaos.processes import ServeProcess, fill, running_serve, tmpfs
from tests.conftest import settings_for_url
from tests.consumers import SWEEP_INTERVAL, Deployment, running_consumer, wait_until
from tests.http_sink import HttpSink

pytestmark = [pytest.mark.chaos, pytest.mark.slow]
http_sink = sink_fixtures.http_sink
WORKFLOW = "disk"


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    outbound.close_clients()


@pytest.fixture
def on_small_disks(tmp_path: Path) -> Iterator[Deployment]:
    """SQLite on a 8 MiB tmpfs, the SqliteHuey queue on a 4 MiB one."""
    with tmpfs(tmp_path / "data", "8m") as data, tmpfs(tmp_path / "queue", "4m") as queue:
        url = f"sqlite:///{data / 'wfconsole.db'}"
        db = open_database(settings_for_url(url))
        sections = queue_sections()
        sections["queue"]["path"] = str(queue / "queue.db")
        try:
            yield Deployment("sqlite", db, {"database": {"url": url}, **sections},
                             tmp_path / "wfconsole-chaos.toml")  # fmt: skip
        finally:
            db.dispose()


def post_hook(serve: ServeProcess) -> httpx.Response:
    """One webhook (the workflow has no secret)."""
    return httpx.post(f"{serve.url}/hooks/{WORKFLOW}", json={"n": 1}, timeout=30.0)


def cli_run(deployed: Deployment) -> subprocess.CompletedProcess[str]:
    """``wfconsole run disk`` as its own process, as a script would call it."""
    env = {**os.environ, CONFIG_ENV: str(deployed.config_path)}
    return subprocess.run(
        [sys.executable, "-m", "wfconsole.cli", "run", WORKFLOW, "--user", "chaos"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def row_count(deployed: Deployment) -> int:
    """Every execution row stored, accepted or not."""
    with deployed.db.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(EXECUTIONS)).scalar_one())


@pytest.mark.timeout(180)
def test_a_full_disk_refuses_triggers_clearly_and_loses_nothing_accepted(
    on_small_disks: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    deployed = on_small_disks
    define_hook_workflow(deployed.db, WORKFLOW, http_sink)
    queue_dir = Path(deployed.sections["queue"]["path"]).parent
    data_dir = Path(deployed.db.url.removeprefix("sqlite:///")).parent
    accepted: list[str] = []

    def accept_cli() -> None:
        result = cli_run(deployed)
        assert result.returncode == 0, result.stderr
        accepted.append(result.stdout.strip())

    with (
        running_serve(deployed, tmp_path / "serve.log") as serve,
        running_consumer(deployed, tmp_path / "consumer.log", workers=2, kind="wfconsole"),
    ):
        for _ in range(3):
            reply = post_hook(serve)
            assert reply.status_code == 202, reply.text
            accepted += reply.json()["executions"]
        accept_cli()
        assert wait_until(lambda: all_final(deployed.db, accepted), 60)

        queue_filler = fill(queue_dir)
        queued_before = len(accepted)
        for _ in range(3):
            reply = post_hook(serve)
            assert reply.status_code == 202, reply.text  # the row is the truth
            accepted += reply.json()["executions"]
        accept_cli()
        assert statuses(deployed.db, accepted[queued_before:])["PENDING"] == 4

        data_filler = fill(data_dir)
        stored = row_count(deployed)
        refusals = []
        for _ in range(20):  # SQLite may reuse WAL space for a few writes before it fails
            reply = post_hook(serve)
            if reply.status_code == 202:
                accepted += reply.json()["executions"]
                stored += 1
                continue
            refusals.append(reply)
            if len(refusals) == 3:
                break
        assert [r.status_code for r in refusals] == [503] * 3, serve.log_tail()
        assert all(r.headers.get("retry-after") for r in refusals)
        failed_cli = []
        for _ in range(3):
            result = cli_run(deployed)
            if result.returncode == 0:
                accepted.append(result.stdout.strip())
                stored += 1
                continue
            failed_cli.append(result)
            break
        [refused] = failed_cli
        assert refused.returncode == 1
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
        assert lines[0].startswith("wfconsole: error: database")
        assert "disk" in lines[0], lines[0]  # "database or disk is full" / "disk I/O error"
        assert row_count(deployed) == stored  # a refused trigger left nothing behind

        queue_filler.unlink()
        data_filler.unlink()
        # The rows whose message never made it are enqueued by the sweeper once overdue.
        recovery = STALE_PENDING.total_seconds() + SWEEP_INTERVAL + 30
        assert wait_until(lambda: all_final(deployed.db, accepted), recovery, 0.5), statuses(
            deployed.db, accepted
        )
        reply = post_hook(serve)
        assert reply.status_code == 202
        accepted += reply.json()["executions"]
        assert wait_until(lambda: all_final(deployed.db, accepted), 30)

    assert_recovered(deployed.db, WORKFLOW, accepted, http_sink, max_repeats=0)


@pytest.mark.timeout(60)
def test_a_command_started_on_a_full_disk_says_the_disk_is_full(tmp_path: Path) -> None:
    config = tmp_path / "wfconsole.toml"
    with tmpfs(tmp_path / "data", "8m") as data:
        url = f"sqlite:///{data / 'wfconsole.db'}"
        open_database(settings_for_url(url)).dispose()
        config.write_text(f'[database]\nurl = "{url}"\n[queue]\npath = "{tmp_path / "q.db"}"\n')
        fill(data)
        # A new connection cannot create SQLite's shared-memory file: "disk I/O error".
        result = subprocess.run(
            [sys.executable, "-m", "wfconsole.cli", "workflow", "list", "--config", str(config)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1, result.stdout
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"wfconsole: error: database {url}: disk full: "), line
    assert "no space left for the database file" in line and "cannot connect" not in line
