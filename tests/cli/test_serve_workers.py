"""``wfconsole serve --workers N``: N HTTP processes on one port, sharing Redis.

Real ``serve`` with two worker processes on PostgreSQL + Redis: both processes answer,
every signed webhook on a new connection is accepted once, and a signature replayed to
either process is refused (the replay store is Redis, shared). Without Redis the option
is refused with one line naming it: the in-process replay store cannot be shared.
SIGTERM stops the supervisor and its children, exit status 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.config import CONFIG_ENV
from engine.http.signature import sign
from engine.services.workflows import save_document
from tests.chaos.harness import set_keys
from tests.chaos.processes import running_serve
from tests.consumers import Deployment, deployment

pytestmark = pytest.mark.slow
SECRET_ENV, SECRET = "WF_SERVE_WORKERS_SECRET", "serve-workers-secret"
JSON = "application/json"


def children_of(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def hook(name: str) -> dict[str, object]:
    return {
        "name": name,
        "triggers": [{"type": "webhook", "path": name, "secret": "${" + SECRET_ENV + "}"}],
        "actions": [{"type": "create_task", "title": "order {{ trigger.order }}"}],
    }


def post(url: str, body: bytes, signature: str) -> httpx.Response:
    headers = {"X-Wf-Signature": signature, "Content-Type": JSON, "Connection": "close"}
    return httpx.post(f"{url}/hooks/orders", content=body, headers=headers, timeout=30.0)


@pytest.fixture
def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    monkeypatch.setenv(SECRET_ENV, SECRET)  # the serve processes inherit it
    with deployment("postgres", tmp_path) as deployed:
        set_keys(deployed, "queue", embedded_worker=False)
        save_document(deployed.db, hook("orders"), actor="tester")
        yield deployed


@pytest.mark.timeout(120)
def test_two_http_processes_share_one_port_and_one_replay_store(
    deployed: Deployment, tmp_path: Path
) -> None:
    with running_serve(deployed, tmp_path / "serve.log", "--workers", "2") as serve:
        assert len(children_of(serve.process.pid)) >= 2, serve.log_tail()
        signed = []
        for order in range(30):
            body = json.dumps({"order": order}).encode()
            signed.append((body, sign(SECRET, int(time.time()), body)))
        for body, signature in signed:
            reply = post(serve.url, body, signature)  # a new connection each time
            assert reply.status_code == 202, reply.text
        # Each replay lands on either process: none is accepted a second time.
        replays = [post(serve.url, body, signature).status_code for body, signature in signed]
        assert replays == [401] * len(signed)
        serve.stop()
        assert serve.process.returncode == 0, serve.log_tail()
    assert children_of(serve.process.pid) == []


def test_workers_without_redis_are_refused_with_one_line(tmp_path: Path) -> None:
    with deployment("sqlite", tmp_path) as deployed:
        result = subprocess.run(
            [sys.executable, "-m", "wfconsole.cli", "serve", "--workers", "2", "--port", "9"],
            env={**os.environ, CONFIG_ENV: str(deployed.config_path)},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--workers" in lines[0] and "Redis" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_a_bad_worker_count_names_the_option(value: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wfconsole.cli", "serve", "--workers", value],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0
    assert "--workers" in result.stderr and "Traceback" not in result.stderr
