"""bench/real_path.py's processes: ports, the load generator, CPU meters, the raw
baselines and py-spy."""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._baseline import raw_redis_rate
from bench._procs import (
    BENCH,
    PYTHON,
    Children,
    cpu_seconds,
    note,
)
from bench._raw_baselines import pg_insert_commits
from bench._real_path_deployment import FINAL, HOOK_PATH, SECRET, WORKFLOW  # noqa: F401

# --------------------------------------------------------------------------- processes


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, proc: subprocess.Popen[bytes], log: Path | None, timeout: float = 60):
    """Until something answers HTTP on ``port`` (any status)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}\n{tail}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/health")
            conn.getresponse().read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing answers on port {port}") from None
            time.sleep(0.1)
        finally:
            conn.close()


def run_load(
    children: Children,
    port: int,
    requests: int,
    threads: int,
    prefix: str,
    secret: str,
    skip_share: float = 0.5,
    rate: float = 0.0,
) -> subprocess.Popen[bytes]:
    """Start the load generator; its JSON result comes on stdout (``load_result``)."""
    args = [PYTHON, str(BENCH / "_hook_load.py"), "--port", str(port), "--path", HOOK_PATH,
            "--requests", str(requests), "--threads", str(threads), "--prefix", prefix,
            "--skip-share", str(skip_share), "--rate", str(rate)]  # fmt: skip
    return children.start(args, env={"WF_BENCH_HOOK_SECRET": secret}, stdout_pipe=True)


def load_result(children: Children, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.wait()
    children.stop(proc)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"load generator failed (exit {proc.returncode}): {out[-500:]}")
    return json.loads(lines[-1])


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / tick, sum(fields[:8]) / tick


class Meter:
    """CPU seconds of named process groups over a window, sampled while it runs.

    Sampling (``sample()``) keeps the last value seen of every pid, so a process that
    ends inside the window still counts up to its last sample; pids that appear inside
    the window count from zero.
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.before: dict[str, dict[int, float]] = {}
        self.last: dict[str, dict[int, float]] = {}

    def start(self) -> None:
        self.before = {name: cpu_seconds(pids()) for name, pids in self.groups.items()}
        self.last = {name: dict(values) for name, values in self.before.items()}

    def sample(self) -> None:
        for name, pids in self.groups.items():
            self.last[name].update(cpu_seconds(pids()))

    def stop(self) -> dict[str, float]:
        self.sample()
        return {
            name: sum(v - self.before[name].get(pid, 0.0) for pid, v in self.last[name].items())
            for name in self.groups
        }


# --------------------------------------------------------------------------- baselines


def baseline_asgi(children: Children, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Bare uvicorn + Starlette answering 202, driven by the same new-connection client."""
    port = free_port()
    log = tmp / "noop-asgi.log"
    proc = children.start(
        [PYTHON, "-m", "uvicorn", "bench._noop_asgi:app", "--host", "127.0.0.1", "--port",
         str(port), "--log-level", "warning"],
        log=log,
    )  # fmt: skip
    try:
        wait_http(port, proc, log)
        before = cpu_seconds([proc.pid]).get(proc.pid, 0.0)
        load = load_result(
            children, run_load(children, port, args.requests, args.threads, "noop", SECRET)
        )
        used = cpu_seconds([proc.pid]).get(proc.pid, 0.0) - before
    finally:
        children.stop(proc)
    window = load["last_end"] - load["first_start"]
    accepted = load["statuses"].get("202", 0)
    return {
        "per_second": accepted / window if window > 0 else float("nan"),
        "p50_ms": load["p50_ms"],
        "p99_ms": load["p99_ms"],
        "statuses": load["statuses"],
        "server_cpu_ms_per_request": used * 1000 / max(1, accepted),
        "client_cpu_ms_per_request": load["cpu_seconds"] * 1000 / max(1, load["requests"]),
    }


def measure_baselines(
    children: Children, args: argparse.Namespace, tmp: Path, url: str
) -> dict[str, Any]:
    base: dict[str, Any] = {}
    note(f"baseline: bare uvicorn + Starlette 202, {args.requests} new-connection requests")
    base["asgi"] = baseline_asgi(children, args, tmp)
    note(f"  {base['asgi']['per_second']:,.0f}/s")
    c, w = args.consumers, args.workers
    note(f"baseline: raw Huey no-op on Redis, {c} consumers x {w} threads, {args.requests} tasks")
    raw = raw_redis_rate(children, args.redis_url, args.requests, c, w, tmp)
    base["huey"] = {
        "per_second": raw.per_second,
        "e2e_per_second": raw.e2e_per_second,
        "cpu_ms_per_task": sum(raw.cpu.values()) * 1000 / raw.count,
    }
    note(f"  {raw.per_second:,.0f} tasks/s")
    note(f"baseline: PostgreSQL single-row INSERT commits, 1 connection, {args.commit_seconds:g}s")
    loop = pg_insert_commits(url, args.commit_seconds)
    base["pg_insert"] = loop.as_dict()
    note(f"  {loop.per_second:,.0f} commits/s")
    return base


# --------------------------------------------------------------------------- py-spy


def py_spy_exe() -> str | None:
    exe = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    return exe if Path(exe).exists() else None


def start_py_spy(children: Children, pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy samples of the thread holding the GIL (``--gil``): Python's CPU, not waits.

    Without ``--gil`` py-spy also counts threads blocked in C (psycopg's and redis-py's
    socket waits, BRPOP) as busy.
    """
    exe = py_spy_exe()
    if exe is None:
        note("py-spy not installed (.venv/bin/pip install py-spy): no CPU samples")
        return None
    return children.start(
        [exe, "record", "--pid", str(pid), "--rate", "250", "--gil", "--nonblocking",
         "--format", "raw", "--output", str(out)],
        log=out.with_suffix(".log"),
    )  # fmt: skip


PROJECT = ("engine/", "wfconsole/")


def _frame_name(frame: str) -> str:
    """``func (path/to/file.py:123)`` → ``func (package/file.py)``, without the line."""
    func, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "/lib/python3.11/", "/lib/python3.12/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{func} ({where})"


def _is_project(name: str) -> bool:
    return any(f"({prefix}" in name for prefix in PROJECT)


def spy_summary(collapsed: Path, cpu_ms_per_exec: float, top: int = 20) -> dict[str, Any]:
    """Shares of py-spy's samples, scaled to the process's measured CPU ms per execution.

    ``self``: the function on top of the stack. ``project``: our functions, inclusive.
    ``calls out``: the first library function below one of ours, inclusive (what our
    code pays a library for: psycopg, redis, httpx, huey, json …).
    """
    if not collapsed.exists():
        return {}
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    calls_out: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit() or not stack:
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(f) for f in stack.split(";") if "(" in f]
        for name in set(frames):
            if _is_project(name):
                inclusive[name] += count
        outs = {
            callee
            for caller, callee in itertools.pairwise(frames)
            if _is_project(caller) and not _is_project(callee)
        }
        for name in outs:
            calls_out[name] += count
        if frames:
            own[frames[-1]] += count
    if not total:
        return {}

    def scaled(counter: Counter[str]) -> list[tuple[str, float, float]]:
        return [
            (name, n / total, n / total * cpu_ms_per_exec) for name, n in counter.most_common(top)
        ]

    return {
        "samples": total,
        "self": scaled(own),
        "project": scaled(inclusive),
        "calls out": scaled(calls_out),
    }
