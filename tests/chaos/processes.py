"""``wfconsole serve`` as a child process, small tmpfs mounts, and filling a disk."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from engine.config import CONFIG_ENV
from tests.chaos.servers import free_port, unavailable
from tests.consumers import Deployment


class ServeProcess:
    """``wfconsole serve`` on a free loopback port; its output goes to ``log_path``."""

    def __init__(self, deployment: Deployment, log_path: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {**os.environ, CONFIG_ENV: str(deployment.config_path)}
        command = [sys.executable, "-m", "wfconsole.cli", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), *extra]  # fmt: skip
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until it answers HTTP (any status)."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"serve exited:\n{self.log_tail()}"
            try:
                httpx.get(f"{self.url}/health", timeout=2.0)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log_tail(self, lines: int = 30) -> str:
        """The end of its output, for assertion messages."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


@contextmanager
def running_serve(deployment: Deployment, log_path: Path, *extra: str) -> Iterator[ServeProcess]:
    """A ready ``wfconsole serve`` (``extra``: more options) for the block, stopped however
    it ends."""
    serve = ServeProcess(deployment, log_path, *extra)
    try:
        serve.wait_ready()
        yield serve
    finally:
        serve.stop()


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder``; lazily unmounted however the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        unavailable("mounting a tmpfs needs root")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if result.returncode != 0:
        unavailable(f"mount -t tmpfs is not permitted here: {result.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def fill(folder: Path) -> Path:
    """Write zeros into ``folder`` until its file system has no byte left; returns the file."""
    filler = folder / "filler.bin"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    # The last partial chunk: fill the final bytes too.
    with filler.open("ab", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 512)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler
