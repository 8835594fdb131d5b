"""The path users take: signed webhooks over new connections → executions that POST out.

Everything runs as a user deploys it, each piece its own process:

- a fresh PostgreSQL database (``--database``, dropped at the end) migrated with
  ``wfconsole db upgrade``, a Redis queue with its own name (its keys deleted at the
  end), a TOML config read through ``$WFCONSOLE_CONFIG``, the workflow loaded with
  ``wfconsole workflow import``;
- ``wfconsole serve`` on a free loopback port;
- ``--consumers`` x ``huey_consumer engine.queue.huey -w <--workers> -k thread``;
- an HTTP sink (``_sink.py``) the workflow's webhook action POSTs to
  (``security.allowed_hosts = ["127.0.0.1"]``);
- the load generator (``_hook_load.py``): ``--requests`` signed orders from ``--threads``
  threads, each request on a new connection; half the orders have ``amount`` 900 and
  pass the condition ``trigger.amount > 500`` (SUCCESS, one POST to the sink), half 100
  (SKIPPED).

Figures: accepts/s (202s over the sending window), executions/s (first request → the
last run final, from the rows' ``completed_at``), statuses, sink requests, and CPU
seconds (``/proc/<pid>/stat``) of every process over that window, per execution. Raw
baselines of the same run beside them (``--skip-baselines`` leaves them out): bare
uvicorn + Starlette answering 202 to the same client, raw Huey no-op tasks through
Redis on the same consumers x workers, PostgreSQL single-row INSERT commits/s.

    .venv/bin/python bench/real_path.py [--requests 2000] [--threads 8] [--json]
    .venv/bin/python bench/real_path.py --profile      # + py-spy of serve and a consumer
    .venv/bin/python bench/real_path.py --stages       # + the consumers' per-stage timings
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
import redis

from bench import _profile
from bench._args import add_admin_url
from bench._baseline import raw_redis_rate
from bench._machine import describe
from bench._procs import (
    BENCH,
    PYTHON,
    Children,
    consumer_cmd,
    cpu_seconds,
    fresh_database,
    note,
    start_sink,
    terminate_as_interrupt,
)
from bench._raw_baselines import pg_insert_commits
from bench._sink import sink_stats

HOOK_PATH = "orders"
SECRET = "bench-real-path-secret"
WORKFLOW = "bench-orders"
FINAL = ("SUCCESS", "SKIPPED", "FAILED", "CANCELLED")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--requests", "-n", type=int, default=2000, help="signed orders sent")
    parser.add_argument("--threads", type=int, default=8, help="load generator threads")
    parser.add_argument("--consumers", "-c", type=int, default=2, help="consumer processes")
    parser.add_argument("--workers", "-w", type=int, default=4, help="threads per consumer")
    parser.add_argument(
        "--max-running",
        type=int,
        default=64,
        help="workflow.max_concurrent_executions (64 as in throughput.py; the default is 10)",
    )
    parser.add_argument("--skip-baselines", action="store_true", help="no raw baselines")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy --gil on serve and consumer 0 during the timed window, summed per"
        " execution (pip install py-spy)",
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=None,
        help="keep py-spy's raw stacks (collapsed format) in this directory",
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="consumers as bench._profiled_consumer: wall and CPU per stage (claim, step,"
        " commit round, Huey); its wrappers cost CPU, so the rates drop",
    )
    parser.add_argument(
        "--skip-share",
        type=float,
        default=0.5,
        help="share of orders with amount 100 (condition false: SKIPPED); 0.5 alternates;"
        " 0 and 1 show what a SUCCESS and a SKIPPED run cost",
    )
    parser.add_argument("--warmup", type=int, default=32, help="untimed orders sent first")
    parser.add_argument("--log-level", default="WARNING", help="logging.level of every process")
    parser.add_argument(
        "--commit-seconds", type=float, default=3.0, help="length of the PostgreSQL baseline"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for the runs")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--database", default="wf_bench_real", help="throwaway database name")
    add_admin_url(parser)
    return parser.parse_args(argv)


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
) -> subprocess.Popen[bytes]:
    """Start the load generator; its JSON result comes on stdout (``load_result``)."""
    args = [PYTHON, str(BENCH / "_hook_load.py"), "--port", str(port), "--path", HOOK_PATH,
            "--requests", str(requests), "--threads", str(threads), "--prefix", prefix,
            "--skip-share", str(skip_share)]  # fmt: skip
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


# --------------------------------------------------------------------------- deployment


def workflow_document(sink_port: int) -> dict[str, Any]:
    return {
        "name": WORKFLOW,
        "description": "bench/real_path.py: orders over 500 are POSTed to the sink",
        "enabled": True,
        "triggers": [{"type": "webhook", "path": HOOK_PATH, "secret": "${WF_BENCH_HOOK_SECRET}"}],
        "conditions": {"path": "trigger.amount", "op": "gt", "value": 500},
        "actions": [
            {
                "type": "webhook",
                "method": "POST",
                "url": f"http://127.0.0.1:{sink_port}/orders",
                "body": {
                    "order": "{{ trigger.order_id }}",
                    "amount": "{{ trigger.amount }}",
                    "execution": "{{ execution.id }}",
                },
            }
        ],
    }


def write_config(path: Path, args: argparse.Namespace, db_url: str, queue_name: str) -> None:
    sections: dict[str, dict[str, Any]] = {
        "database": {"url": db_url, "pool_size": max(10, args.workers + 2)},
        "queue": {
            "redis_url": args.redis_url,
            "name": queue_name,
            "concurrency": args.workers,
            "signing_key": f"bench-{uuid.uuid4().hex}",
        },
        "workflow": {"max_concurrent_executions": args.max_running},
        # The sender is one client: the default limit (60/min) would answer 429.
        "security": {"allowed_hosts": ["127.0.0.1"], "rate_limit_per_minute": 100_000_000},
        "logging": {"level": args.log_level},
    }
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def cli(config: Path, *command: str) -> str:
    """Run ``wfconsole COMMAND`` as a user would; its output, or an error with it."""
    done = subprocess.run(
        [PYTHON, "-m", "wfconsole", *command],
        env={**os.environ, "WFCONSOLE_CONFIG": str(config), "WF_BENCH_HOOK_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wfconsole {' '.join(command)}: {done.stderr.strip()[-1000:]}")
    return done.stdout.strip()


def delete_redis_keys(url: str, marker: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"*{marker}*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


class Rows:
    """Read-only questions about the executions table (one autocommit connection)."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        row = self.conn.execute("SELECT pg_backend_pid()").fetchone()
        self.backend_pid = int(row[0]) if row else -1
        self._owner: dict[int, str] = {}  # backend pid → whose connection it serves
        self._groups: tuple[float, dict[str, list[int]]] = (-1.0, {})
        self._tries: Counter[int] = Counter()
        self.server_port = int(self.conn.info.port)

    def close(self) -> None:
        self.conn.close()

    def last_created(self) -> Any:
        row = self.conn.execute("SELECT max(created_at) FROM workflow_execution").fetchone()
        return row[0] if row else None

    def progress(self, after: Any) -> tuple[int, int]:
        """(rows created after ``after``, of them final)."""
        row = self.conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = ANY(%s)) FROM workflow_execution"
            " WHERE created_at > %s",
            (list(FINAL), after),
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def summary(self, after: Any) -> dict[str, Any]:
        statuses: dict[Any, Any] = dict(
            self.conn.execute(
                "SELECT status, count(*) FROM workflow_execution WHERE created_at > %s"
                " GROUP BY status",
                (after,),
            ).fetchall()
        )
        row = self.conn.execute(
            "SELECT extract(epoch FROM min(created_at)), extract(epoch FROM max(completed_at)),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY completed_at - created_at),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY completed_at - created_at),"
            " count(*) FILTER (WHERE retry_count > 0)"
            " FROM workflow_execution WHERE created_at > %s",
            (after,),
        ).fetchone()
        assert row is not None
        errors = [
            f"{count} x {error}"
            for error, count in self.conn.execute(
                "SELECT coalesce(error, '(none)'), count(*) FROM workflow_execution"
                " WHERE created_at > %s AND status NOT IN ('SUCCESS', 'SKIPPED')"
                " GROUP BY 1 ORDER BY 2 DESC LIMIT 5",
                (after,),
            ).fetchall()
        ]
        return {
            "statuses": {str(k): int(v) for k, v in statuses.items()},
            "first_created": float(row[0]) if row[0] is not None else float("nan"),
            "last_completed": float(row[1]) if row[1] is not None else float("nan"),
            "final_p50_ms": row[2].total_seconds() * 1000 if row[2] is not None else float("nan"),
            "final_p99_ms": row[3].total_seconds() * 1000 if row[3] is not None else float("nan"),
            "retried": int(row[4]),
            "errors": errors,
        }

    def postgres_pids(self, owners: dict[str, list[int]]) -> dict[str, list[int]]:
        """PostgreSQL processes by whom they work for: each of ``owners`` (label → client
        pids, matched through the backend's client port and the owner's sockets), then
        "server" (walwriter, checkpointer, … — shared with anything else running) and
        "other" (backends of this database with no known owner). This connection's own
        backend is left out.
        """
        now = time.monotonic()
        if now - self._groups[0] < 0.02:  # the meter asks once per group per sample
            return self._groups[1]
        rows = self.conn.execute(
            "SELECT pid, client_port, backend_type, datname IS NOT NULL"
            " FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND"
            " (datname = current_database() OR (datname IS NULL AND backend_type <> 'client"
            " backend'))"
        ).fetchall()
        unknown = [
            r
            for r in rows
            if r[1] is not None and int(r[0]) not in self._owner and self._tries[r[0]] < 3
        ]
        if unknown:
            port_inode = _tcp_port_inodes(self.server_port)
            inode_owner = {
                inode: label
                for label, pids in owners.items()
                for pid in pids
                for inode in _socket_inodes(pid)
            }
            for pid, port, _kind, _ours in unknown:
                owner = inode_owner.get(port_inode.get(int(port), -1))
                if owner is not None:
                    self._owner[int(pid)] = owner
                else:
                    self._tries[pid] += 1  # gone, or not ours: stop looking after 3 tries
        groups: dict[str, list[int]] = {label: [] for label in owners}
        groups.update(server=[], other=[])
        for pid, port, _kind, ours in rows:
            label = self._owner.get(int(pid))
            if label is None:
                label = "other" if ours and port is not None else "server"
            groups[label].append(int(pid))
        self._groups = (now, groups)
        return groups


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def _tcp_port_inodes(server_port: int) -> dict[int, int]:
    """Local port → socket inode of every open TCP connection to ``server_port``."""
    found: dict[int, int] = {}
    remote = f":{server_port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                inode = int(fields[9])
                if inode and fields[2].endswith(remote):  # not TIME_WAIT; to the server
                    found[int(fields[1].rsplit(":", 1)[1], 16)] = inode
    return found


def wait_final(
    rows: Rows,
    after: Any,
    load: subprocess.Popen[bytes] | None,
    expected: int | None,
    procs: list[subprocess.Popen[bytes]],
    timeout: float,
    meter: Meter | None = None,
    what: str = "runs",
) -> None:
    """Poll until the load generator is done and every row it created is final."""
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + 2.0
    while True:
        created, final = rows.progress(after)
        loading = load is not None and load.poll() is None
        if not loading and created == final and (expected is None or final >= expected):
            return
        if meter is not None:
            meter.sample()
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} ({what})")
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"{what}: {final} of {created} final after {timeout:.0f}s")
        if now >= next_note:
            note(f"  {what}: {created} accepted, {final} final")
            next_note = now + 2.0
        time.sleep(0.05)


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


# --------------------------------------------------------------------------- the run


def real_path(
    children: Children, args: argparse.Namespace, tmp: Path, url: str, sink: tuple[Any, int]
) -> dict[str, Any]:
    sink_proc, sink_port = sink
    marker = args.marker  # the queue name; every Redis key of the run contains it
    config = tmp / "wfconsole.toml"
    db_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    write_config(config, args, db_url, marker)
    env = {"WFCONSOLE_CONFIG": str(config), "WF_BENCH_HOOK_SECRET": SECRET,
           "BENCH_PROFILE_DIR": str(tmp)}  # fmt: skip
    try:
        note("deployment: wfconsole db upgrade, workflow import")
        cli(config, "db", "upgrade")
        document = tmp / "workflow.json"
        document.write_text(json.dumps(workflow_document(sink_port), indent=2))
        cli(config, "workflow", "import", str(document))

        module = _profile.PROFILED if args.stages else "huey.bin.huey_consumer"
        consumers = [
            children.start(
                consumer_cmd("engine.queue.huey", args.workers, tmp / f"consumer-{i}.log", module),
                env=env,
                log=tmp / f"consumer-{i}.out",
            )
            for i in range(args.consumers)
        ]
        port = free_port()
        serve_log = tmp / "serve.log"
        serve = children.start(
            [PYTHON, "-m", "wfconsole", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            log=serve_log,
        )
        wait_http(port, serve, serve_log)
        note(
            f"serve on :{port} (pid {serve.pid}), {args.consumers} consumers x "
            f"{args.workers} threads, sink :{sink_port}"
        )
        rows = Rows(url)
        try:
            return drive(children, args, tmp, rows, port, serve, consumers, sink_proc, sink_port)
        finally:
            rows.close()
    finally:
        for proc in list(children.procs):
            if proc is not sink_proc:
                children.stop(proc)
        with contextlib.suppress(redis.RedisError):
            delete_redis_keys(args.redis_url, marker)


def drive(
    children: Children,
    args: argparse.Namespace,
    tmp: Path,
    rows: Rows,
    port: int,
    serve: subprocess.Popen[bytes],
    consumers: list[subprocess.Popen[bytes]],
    sink_proc: subprocess.Popen[bytes],
    sink_port: int,
) -> dict[str, Any]:
    procs = [serve, *consumers]
    note(f"warm-up: {args.warmup} orders")
    start = rows.last_created() or datetime(1970, 1, 1, tzinfo=UTC)
    warm = run_load(children, port, args.warmup, min(args.threads, args.warmup), "warm", SECRET)
    wait_final(rows, start, warm, None, procs, 120, what="warm-up")
    warm_result = load_result(children, warm)
    if warm_result["statuses"].get("202", 0) != args.warmup:
        raise RuntimeError(f"warm-up answers: {warm_result['statuses']} {warm_result['problems']}")
    after = rows.last_created()
    sink_before = sink_stats(sink_port)

    with redis.Redis.from_url(args.redis_url) as client:
        redis_pid = int(client.info("server")["process_id"])
    groups: dict[str, Callable[[], list[int]]] = {"serve": lambda: [serve.pid]}
    for i, proc in enumerate(consumers):
        groups[f"consumer {i}"] = functools.partial(lambda pid: [pid], proc.pid)
    owners = {"serve": [serve.pid], "consumers": [proc.pid for proc in consumers]}

    def postgres(label: str) -> Callable[[], list[int]]:
        return lambda: rows.postgres_pids(owners)[label]

    groups.update(
        {
            "PostgreSQL for serve": postgres("serve"),
            "PostgreSQL for consumers": postgres("consumers"),
            "PostgreSQL server processes": postgres("server"),
            "PostgreSQL other backends": postgres("other"),
            "Redis": lambda: [redis_pid],
            "sink": lambda: [sink_proc.pid],
            "bench (poller)": lambda: [os.getpid()],
        }
    )
    meter = Meter(groups)
    spies: list[tuple[str, subprocess.Popen[bytes] | None, Path]] = []
    if args.stages:
        _profile.reset(consumers)
    if args.profile:
        for label, pid in (("serve", serve.pid), ("consumer 0", consumers[0].pid)):
            folder = args.profile_dir or tmp
            folder.mkdir(parents=True, exist_ok=True)
            out = folder / f"py-spy-{label.replace(' ', '')}.txt"
            spies.append((label, start_py_spy(children, pid, out), out))
        time.sleep(1.0)  # py-spy attaches
    prefix = f"ord{uuid.uuid4().hex[:6]}"
    note(f"timed: {args.requests} signed orders, {args.threads} threads, new connection each")
    meter.start()
    machine_before = machine_cpu()
    load = run_load(children, port, args.requests, args.threads, prefix, SECRET, args.skip_share)
    wait_final(rows, after, load, None, procs, args.timeout, meter, what="timed run")
    cpu = meter.stop()
    machine_after = machine_cpu()
    sent = load_result(children, load)
    accepted = sent["statuses"].get("202", 0)
    # Rows accepted but answered late (none expected): wait for them as well.
    wait_final(rows, after, None, accepted, procs, 60, what="stragglers")
    profile: dict[str, Any] = {}
    if args.stages:
        profile["stages"] = _profile.collect(tmp, consumers)
    if args.profile:
        for _label, spy, _out in spies:
            _profile.stop_py_spy(children, spy)
    summary = rows.summary(after)
    sink_after = sink_stats(sink_port)
    with redis.Redis.from_url(args.redis_url) as client:
        queued = int(client.llen(f"huey.redis.{args.marker}"))
    executions = sum(summary["statuses"].values())
    skipped = math.floor(args.requests * args.skip_share)  # as _hook_load.py spreads them
    expected = {"SKIPPED": skipped, "SUCCESS": args.requests - skipped}
    send_window = sent["last_end"] - sent["first_start"]
    run_window = summary["last_completed"] - sent["first_start"]
    cpu["load generator"] = sent["cpu_seconds"]
    per_exec = {name: used * 1000 / max(1, executions) for name, used in cpu.items()}
    busy = machine_after[0] - machine_before[0]
    capacity = machine_after[1] - machine_before[1]
    if args.profile:
        for label, _spy, out in spies:
            profile[label] = spy_summary(out, per_exec.get(label, 0.0))
    return {
        "requests": args.requests,
        "threads": args.threads,
        "consumers": args.consumers,
        "workers": args.workers,
        "max_running": args.max_running,
        "skip_share": args.skip_share,
        "expected": expected,
        "as_expected": summary["statuses"] == {k: v for k, v in expected.items() if v}
        and sink_after["requests"] - sink_before.get("requests", 0) == expected["SUCCESS"],
        "http_statuses": sent["statuses"],
        "http_problems": sent["problems"],
        "accepts_per_second": accepted / send_window if send_window > 0 else float("nan"),
        "send_seconds": send_window,
        "accept_p50_ms": sent["p50_ms"],
        "accept_p99_ms": sent["p99_ms"],
        "accept_max_ms": sent["max_ms"],
        "executions": executions,
        "executions_per_second": executions / run_window if run_window > 0 else float("nan"),
        "run_seconds": run_window,
        "statuses": summary["statuses"],
        "retried": summary["retried"],
        "errors": summary["errors"],
        "accept_to_final_p50_ms": summary["final_p50_ms"],
        "accept_to_final_p99_ms": summary["final_p99_ms"],
        "sink": {k: sink_after[k] - sink_before.get(k, 0) for k in sink_after},
        "left_in_queue": queued,
        "cpu_seconds": cpu,
        "cpu_ms_per_execution": per_exec,
        # The whole machine over the window: everything busy, and what was there to use.
        "machine_cpu_busy_seconds": busy,
        "machine_cpu_seconds": capacity,
        "cores": os.cpu_count(),
        "profile": profile,
    }


# --------------------------------------------------------------------------- report


def print_report(machine: dict[str, str], base: dict[str, Any], fig: dict[str, Any]) -> None:
    print("machine")
    for key, value in machine.items():
        print(f"  {key:<22} {value}")
    n = fig["executions"]
    print(
        f"\nreal path: {fig['requests']:,} signed webhooks (new connection each, "
        f"{fig['threads']} client threads) → wfconsole serve → PostgreSQL + Redis → "
        f"{fig['consumers']} consumers x {fig['workers']} threads → POST to sink "
        f"(max_concurrent_executions {fig['max_running']})"
    )
    asgi = base.get("asgi", {})
    huey = base.get("huey", {})
    pg = base.get("pg_insert", {})

    def beside(value: float, floor: float | None, label: str) -> str:
        if not floor:
            return ""
        return f"   | {label} {floor:,.0f}/s, ratio {value / floor:.2f}"

    print(
        f"  accepts/s (202s over the sending window, {fig['send_seconds']:.2f} s)"
        f"{'':>4}{fig['accepts_per_second']:>9,.0f}/s"
        + beside(fig["accepts_per_second"], asgi.get("per_second"), "bare uvicorn 202")
    )
    print(
        f"  accept latency p50 / p99 / max{'':>28}{fig['accept_p50_ms']:.1f} / "
        f"{fig['accept_p99_ms']:.1f} / {fig['accept_max_ms']:.1f} ms"
        + (
            f"   | bare uvicorn p50 / p99 {asgi['p50_ms']:.1f} / {asgi['p99_ms']:.1f} ms"
            if asgi
            else ""
        )
    )
    print(
        f"  executions/s (first request → last run final, {fig['run_seconds']:.2f} s)"
        f"{'':>2}{fig['executions_per_second']:>9,.0f}/s"
        + beside(fig["executions_per_second"], huey.get("per_second"), "raw Huey no-op")
    )
    print(
        f"  accept → final p50 / p99 (created_at → completed_at){'':>6}"
        f"{fig['accept_to_final_p50_ms']:.1f} / {fig['accept_to_final_p99_ms']:.1f} ms"
    )
    if pg:
        print(
            f"  PostgreSQL single-row INSERT commits, 1 connection{'':>9}"
            f"{pg['per_second']:>9,.0f}/s   p50 {pg['p50_ms']:.2f} ms, p99 {pg['p99_ms']:.2f} ms"
        )
    statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(fig["statuses"].items()))
    want = fig["expected"]
    print(
        f"  executions by status: {statuses} (of {n:,}; {fig['retried']} retried; expected "
        f"SKIPPED {want['SKIPPED']:,}, SUCCESS {want['SUCCESS']:,}: "
        f"{'ok' if fig['as_expected'] else 'MISMATCH'})"
    )
    http = ", ".join(f"{k} {v:,}" for k, v in sorted(fig["http_statuses"].items()))
    print(f"  HTTP answers: {http}")
    for problem in fig["http_problems"]:
        print(f"    NOT 202: {problem}")
    for error in fig["errors"]:
        print(f"    NOT SUCCESS/SKIPPED: {error}")
    sink = fig["sink"]
    print(
        f"  sink: {sink['requests']:,} requests, {sink['keys']:,} distinct Idempotency-Keys, "
        f"{sink['repeats']} repeats; {fig['left_in_queue']} messages left in the queue"
    )
    print(f"\n  CPU over the run window{'':>14}{'seconds':>8} {'ms/execution':>13}")
    for name, used in fig["cpu_seconds"].items():
        print(f"    {name:<35}{used:8.2f} {fig['cpu_ms_per_execution'][name]:13.3f}")
    total = sum(fig["cpu_seconds"].values())
    print(f"    {'total':<35}{total:8.2f} {total * 1000 / max(1, n):13.3f}")
    others = fig["machine_cpu_busy_seconds"] - total
    print(
        f"    {'other processes on the machine':<35}{max(0.0, others):8.2f}"
        f"   (machine busy {fig['machine_cpu_busy_seconds']:.2f} of "
        f"{fig['machine_cpu_seconds']:.2f} CPU s in the window)"
    )
    if total:
        print(
            f"  CPU bound: {fig['cores']} cores / {total * 1000 / max(1, n):.2f} ms per execution"
            f" = {fig['cores'] * n / total:,.0f} executions/s if nothing else ran"
        )
    if asgi:
        print(
            f"  bare uvicorn: server {asgi['server_cpu_ms_per_request']:.3f} ms CPU/request, "
            f"client {asgi['client_cpu_ms_per_request']:.3f} ms"
        )
    if huey:
        print(
            f"  raw Huey no-op: {huey['cpu_ms_per_task']:.3f} ms CPU/task (consumers + Redis); "
            f"end to end with the producer enqueueing {huey['e2e_per_second']:,.0f}/s"
        )
    print(
        "  (PostgreSQL for serve / consumers: this database's backends serving their"
        " connections; server processes (walwriter, checkpointer, …) are shared with"
        " anything else running)"
    )
    profile = fig.get("profile") or {}
    if profile.get("stages"):
        _profile.print_profile(profile["stages"], n, [])
    for label in ("serve", "consumer 0"):
        spy = profile.get(label)
        if not spy:
            continue
        measured = fig["cpu_ms_per_execution"].get(label, 0.0)
        print(
            f"\npy-spy --gil, {label}: {spy['samples']:,} samples; ms/execution = share of"
            f" samples x the process's measured CPU ({measured:.3f} ms)"
        )
        for kind in ("self", "project", "calls out"):
            print(f"  top by {kind}")
            for name, share, ms in spy[kind]:
                print(f"    {share * 100:5.1f} %  {ms:6.3f} ms  {name[:110]}")
    print(f"\nload average at end {machine.get('load average at end', '')}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    children = Children()
    machine: dict[str, str] = {}
    base: dict[str, Any] = {}
    with terminate_as_interrupt(), tempfile.TemporaryDirectory(prefix="wf-bench-rp-") as tmpdir:
        tmp = Path(tmpdir)
        try:
            machine = describe(args.admin_url, args.redis_url)
            note(f"load average at start {machine['load average at start']}")
            sink = start_sink(children)
            with fresh_database(args.admin_url, args.database) as url:
                if not args.skip_baselines:
                    base = measure_baselines(children, args, tmp, url)
                args.marker = f"wfbenchrp{uuid.uuid4().hex[:8]}"  # the queue name
                fig = real_path(children, args, tmp, url, sink)
        except KeyboardInterrupt:
            note("interrupted; cleaning up")
            return 130
        finally:
            children.stop_all()
    machine["load average at end"] = " ".join(f"{v:.1f}" for v in os.getloadavg())
    note(
        f"{fig['accepts_per_second']:,.0f} accepts/s, {fig['executions_per_second']:,.0f} "
        f"executions/s; load average at end {machine['load average at end']}"
    )
    if args.json:
        print(json.dumps({"machine": machine, "baselines": base, **fig}, default=str))
    else:
        print_report(machine, base, fig)
    return 0 if fig["as_expected"] and fig["http_statuses"].get("202", 0) == args.requests else 1


if __name__ == "__main__":
    sys.exit(main())
