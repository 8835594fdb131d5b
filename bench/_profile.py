"""``--profile``: per-stage wall-clock accounting from the consumers, plus a py-spy CPU profile.

The consumers run ``bench._profiled_consumer`` (see there); SIGUSR1 clears their totals
right before the timed phase. py-spy (``pip install py-spy``), when present, samples
consumer 0 during the same phase; its collapsed stacks are summarised by function.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench._procs import Children

PROFILED = "bench._profiled_consumer"
# Functions worth naming in the CPU summary (substring of "function (file:line)").
CPU_MARKERS = {
    "batch thread (_run_claimed)": "_run_claimed (engine/execution/executor.py",
    "claim": "_claim (engine/execution/executor.py",
    "definition lookup": "get (engine/execution/executor.py",
    "step: run_action": "run_action (engine/actions/registry.py",
    "step: httpx send": "send (httpx/_client.py",
    "step: templating": "engine/definitions/templating.py",
    "commit round": "_commit (engine/execution/executor.py",
    "commit round: building rows": "write_round (engine/execution/commit_rounds.py",
    "SQLAlchemy execute": "execute (sqlalchemy/engine/base.py",
    "SQLAlchemy compile": "sqlalchemy/sql/compiler.py",
    "psycopg execute": "execute (psycopg/cursor.py",
    "psycopg commit": "commit (psycopg/connection.py",
    "pool checkout + pre-ping": "_checkout (sqlalchemy/pool/base.py",
    "huey dequeue (BRPOP waits count as busy)": "dequeue (huey/api.py",
    "huey deserialize (pickle+HMAC)": "deserialize (huey/serializer.py",
    "huey enqueue (retry/dispatch)": "enqueue (huey/api.py",
    "logging": "logging/__init__.py",
}


def reset(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        os.kill(proc.pid, signal.SIGUSR1)


def collect(directory: Path, procs: list[subprocess.Popen[bytes]]) -> dict[str, list[float]]:
    """Sum the consumers' totals (name -> [calls, wall s, cpu s]) once written."""
    time.sleep(1.5)  # each consumer dumps every second
    totals: dict[str, list[float]] = {}
    for proc in procs:
        data = json.loads((directory / f"consumer-{proc.pid}.json").read_text())
        for name, entry in data.items():
            total = totals.setdefault(name, [0, 0.0, 0.0])
            for k in range(3):
                total[k] += entry[k]
    return totals


def start_py_spy(children: Children, pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        return None
    args = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--rate",
        "250",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(out),
    ]
    return children.start(args, log=out.with_suffix(".log"))


def stop_py_spy(children: Children, proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        os.kill(proc.pid, signal.SIGINT)  # py-spy writes its output on SIGINT
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        children.stop(proc)


def cpu_summary(collapsed: Path) -> list[tuple[str, float]]:
    """Inclusive share of CPU samples per marker, from py-spy's collapsed stacks."""
    if not collapsed.exists():
        return []
    hits: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        for label, marker in CPU_MARKERS.items():
            if marker in stack:
                hits[label] += count
    return [(label, hits[label] / total) for label in CPU_MARKERS if total and hits[label]]


def print_profile(
    totals: dict[str, list[float]], executions: int, cpu: list[tuple[str, float]]
) -> None:
    print(f"\nprofile: PostgreSQL + Redis, all consumer threads, {executions} executions")
    print(
        f"{'item (wall = elapsed incl. waits; cpu = that thread)':54} {'calls/ex':>8} "
        f"{'ms/call':>8} {'wall/ex':>8} {'cpu/ex':>7}"
    )
    for name, (calls, wall, used) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
        print(
            f"{name[:54]:54} {calls / executions:8.2f} {wall / calls * 1000:8.2f} "
            f"{wall / executions * 1000:8.2f} {used / executions * 1000:7.2f}"
        )
    for bound in _bounds(totals):
        print(bound)
    if cpu:
        print("\nCPU samples of consumer 0 (py-spy, inclusive share of non-idle samples)")
        for label, share in cpu:
            print(f"  {label:40} {share * 100:5.1f} %")


def _per_call(totals: dict[str, list[float]], name: str) -> float:
    calls, wall, _ = totals.get(name, (0, 0.0, 0.0))
    return wall / calls * 1000 if calls else 0.0


def _bounds(totals: dict[str, list[float]]) -> list[str]:
    """Serialisation bounds: a lock held for H ms admits at most 1000/H holders a second."""
    lines = []
    row_hold = _per_call(totals, "sql[finish] update workflow set") + _per_call(
        totals, "commit[finish]"
    )
    rounds = totals.get("commit round (lock, writes, COMMIT)", (0, 0.0, 0.0))[0]
    finishes = totals.get("sql[finish] update workflow set", (0, 0.0, 0.0))[0]
    if row_hold and rounds:
        lines.append(
            f"commit round: the workflow's counter row stays locked from its UPDATE until "
            f"COMMIT returns ({row_hold:.1f} ms) -> at most {1000 / row_hold:,.0f} rounds/s "
            f"per workflow; {finishes / rounds:.2f} counter UPDATEs per round"
        )
    return lines
