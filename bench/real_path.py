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
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from bench import _profile
from bench._args import add_admin_url
from bench._machine import describe
from bench._procs import (
    PYTHON,
    Children,
    consumer_cmd,
    fresh_database,
    note,
    start_sink,
    terminate_as_interrupt,
)
from bench._real_path_deployment import (
    SECRET,
    Rows,
    cli,
    delete_redis_keys,
    wait_final,
    workflow_document,
    write_config,
)
from bench._real_path_processes import (
    Meter,
    free_port,
    load_result,
    machine_cpu,
    measure_baselines,
    run_load,
    spy_summary,
    start_py_spy,
    wait_http,
)
from bench._real_path_report import print_report
from bench._sink import sink_stats


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
        "--serve-workers", type=int, default=1, help="HTTP processes of serve (serve --workers)"
    )
    parser.add_argument(
        "--rate", type=float, default=0.0,
        help="pace the timed requests at this many per second (0: as fast as they go); "
        "e.g. 250 for the enqueue → start latency at a steady rate",
    )  # fmt: skip
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


# --------------------------------------------------------------------------- the run


def child_pids(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid and fields[0] != "Z":
                    found.append(int(entry.name))
    return found


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
            [
                PYTHON,
                "-m",
                "wfconsole",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(args.serve_workers),
            ],
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
    serve_pids = [serve.pid, *child_pids(serve.pid)]  # serve --workers N: its children too
    groups: dict[str, Callable[[], list[int]]] = {"serve": lambda: serve_pids}
    for i, proc in enumerate(consumers):
        groups[f"consumer {i}"] = functools.partial(lambda pid: [pid], proc.pid)
    owners = {"serve": serve_pids, "consumers": [proc.pid for proc in consumers]}

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
    load = run_load(
        children, port, args.requests, args.threads, prefix, SECRET, args.skip_share, args.rate
    )
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
        "serve_workers": args.serve_workers,
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
        "enqueue_to_start_p50_ms": summary["start_p50_ms"],
        "enqueue_to_start_p99_ms": summary["start_p99_ms"],
        "rate": args.rate,
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
