"""How fast the tools start: commands as typed in a shell, the console in a real terminal.

Each command's whole-process wall time (best of N) on a local SQLite database holding a
demo history, beside ``python -c pass`` measured in the same run, with the CPU time
(user + system) the command used — steadier than wall time on a machine others share;
and the console's
first frame in a pseudo-terminal (120x36) — rows on screen, then the header's
``db ok`` — beside a bare Textual app's first frame. Issue 15's targets: read commands
≤ 0.3 s, the console's rows and health ≤ 0.6 s.

    .venv/bin/python bench/startup.py [--executions 5000] [--repeat 5] [--json]
        [--database-url postgresql://postgres@127.0.0.1:5432/wf_stats_bench]

``--database-url`` measures against an existing database instead (given to the commands
as ``DATABASE_URL``, the original system's variable); ``bench/stats_queries.py --keep``
leaves ``wf_stats_bench`` on PostgreSQL with a million executions (issue 15's other
targets: read commands ≤ 0.5 s, ``stats`` ≤ 1 s there).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._args import print_load

PYTHON = sys.executable
WFCONSOLE = str(Path(PYTHON).with_name("wfconsole"))
COMMANDS = [
    ["--help"],
    ["executions", "list", "--limit", "5"],
    ["health"],
    ["workflow", "list"],
    ["stats"],
    ["maintenance", "queue"],
]
BARE_APP = """
from textual.app import App
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static("bare-app-ready")

Bare().run()
"""
_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")


def best_wall(command: list[str], env: dict[str, str], repeat: int) -> float:
    """The best of ``repeat`` whole-process wall times, in seconds (the command must succeed)."""
    return best_times(command, env, repeat)[0]


def best_times(command: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    """The best of ``repeat`` whole-process wall times and the best of their CPU times
    (user + system of the process and its children), in seconds."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = _children_cpu()
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, timeout=120)
        walls.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - before)
        if done.returncode not in (0, 1):  # `health` exits 1 when unhealthy: still timed
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode()[-400:]}")
    return min(walls), min(cpus)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def first_frames(
    command: list[str], env: dict[str, str], marks: list[bytes], timeout: float = 30.0
) -> dict[bytes, float]:
    """Seconds from start until each mark appears on a 120x36 pseudo-terminal."""
    pid, fd = os.forkpty()
    if pid == 0:  # the child: a terminal of the contract's size, then the command
        os.execve(command[0], command, env)
    import fcntl

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    started = time.perf_counter()
    seen: dict[bytes, float] = {}
    screen = b""
    try:
        while len(seen) < len(marks) and time.perf_counter() - started < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            screen += _ANSI.sub(b"", chunk)
            for mark in marks:
                if mark not in seen and mark in screen:
                    seen[mark] = time.perf_counter() - started
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    return seen


def best_frames(command: list[str], env: dict[str, str], marks: list[bytes], repeat: int
                ) -> dict[str, float | None]:  # fmt: skip
    runs = [first_frames(command, env, marks) for _ in range(repeat)]
    return {
        mark.decode(): min((run[mark] for run in runs if mark in run), default=None)
        for mark in marks
    }


def bare_home() -> tuple[Path, dict[str, str]]:
    """An empty home and data directory, and an environment without wfconsole's settings."""
    home = Path(tempfile.mkdtemp(prefix="wf-startup-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFCONSOLE_")}
    for name in ("DATABASE_URL", "REDIS_URL", "WFCONSOLE_CONFIG"):
        env.pop(name, None)
    env.update(XDG_DATA_HOME=str(home / "data"), HOME=str(home), TERM="xterm-256color",
               USER="bench", COLUMNS="120", LINES="36")  # fmt: skip
    return home, env


def _database_kind(url: str) -> str:
    return "PostgreSQL" if url.startswith("postgres") else "SQLite"


def _count(url: str) -> int:
    """How many executions the database holds (for the report's heading)."""
    if not url.startswith("postgres"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return int(conn.execute("SELECT count(*) FROM workflow_execution").fetchone()[0])
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        return int(conn.execute("SELECT count(*) FROM workflow_execution").fetchone()[0])  # type: ignore[index]


def seeded_home(executions: int) -> tuple[Path, dict[str, str]]:
    """A data directory with ``wfconsole demo --executions N`` loaded."""
    home, env = bare_home()
    demo = [WFCONSOLE, "demo", "--no-open", "--executions", str(executions)]
    subprocess.run(demo, env=env, check=True, capture_output=True, cwd=home, timeout=600)
    return home, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--database-url", help="an existing database to measure against")
    args = parser.parse_args()
    print_load()
    if args.database_url:
        home, env = bare_home()
        env["DATABASE_URL"] = args.database_url
        where = f"{_database_kind(args.database_url)}, {_count(args.database_url):,} executions"
    else:
        print(f"seeding a demo database with {args.executions:,} executions…", file=sys.stderr)
        home, env = seeded_home(args.executions)
        where = f"SQLite, {args.executions:,} demo executions"
    try:
        baseline, baseline_cpu = best_times([PYTHON, "-c", "pass"], env, args.repeat)
        timed = {
            "wfconsole " + " ".join(c): best_times([WFCONSOLE, *c], env, args.repeat)
            for c in COMMANDS
        }
        commands = {name: wall for name, (wall, _) in timed.items()}
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
            script.write(BARE_APP)
        bare = best_frames([PYTHON, script.name], env, [b"bare-app-ready"], args.repeat)
        os.unlink(script.name)
        console = best_frames([WFCONSOLE], env, [b"large-invoice-alert", b"db ok"], args.repeat)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    report = {
        "python -c pass": baseline,
        "python -c pass cpu": baseline_cpu,
        "commands": commands,
        "commands cpu": {name: cpu for name, (_, cpu) in timed.items()},
        "bare Textual app first frame": bare["bare-app-ready"],
        "console": console,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{where}; best of {args.repeat}; python -c pass "
          f"{baseline * 1000:.0f} ms, cpu {baseline_cpu * 1000:.0f} ms (baseline)")  # fmt: skip
    for name, (seconds, cpu) in timed.items():
        print(f"  {name:<42} {seconds * 1000:7.0f} ms   (+{(seconds - baseline) * 1000:.0f} ms)"
              f"   cpu {cpu * 1000:4.0f} ms")  # fmt: skip
    shown = bare["bare-app-ready"]
    print(f"  bare Textual app, first frame          {_ms(shown)}   (baseline)")
    print(f"  wfconsole: rows on screen               {_ms(console['large-invoice-alert'])}")
    print(f"  wfconsole: header says db ok            {_ms(console['db ok'])}")
    print("  targets (issue 15): read commands ≤ 300 ms; console rows and health ≤ 600 ms;"
          f" median of commands {statistics.median(commands.values()) * 1000:.0f} ms")  # fmt: skip


def _ms(seconds: float | None) -> str:
    return "   n/a " if seconds is None else f"{seconds * 1000:7.0f} ms"


if __name__ == "__main__":
    main()
