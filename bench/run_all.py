"""Every benchmark in one run, printed as one table: figure, value, baseline, ratio.

The physical baselines are measured in the same run, first, by this process: raw Huey
no-op tasks/s through Redis (the same 2 consumers x 4 threads), single-row INSERT
commits/s and COPY rows/s on PostgreSQL, PING and LPUSH round trips/s on Redis. Each
benchmark script then runs in its own process with ``--json``; figures that have a
closer baseline of their own (bare uvicorn for webhooks, the bare keyset query for the
console, one bare DELETE for the cleanup, the raw SqliteHuey drain) use that one. The
ratio is value/baseline for rates and baseline/value for times: 1.00 is the physical
limit, lower is further from it. The machine (CPU, cores, RAM, PostgreSQL and Redis
versions, load) is printed first.

    .venv/bin/python bench/run_all.py --quick     # small counts, a few minutes
    .venv/bin/python bench/run_all.py             # full sizes (1M rows), most of an hour
    .venv/bin/python bench/run_all.py --only throughput,cleanup [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._args import add_admin_url
from bench._baseline import raw_redis_rate
from bench._machine import describe
from bench._procs import BENCH, PYTHON, Children, fresh_database, note, terminate_as_interrupt
from bench._raw_baselines import pg_copy_rows, pg_insert_commits, redis_round_trips
from bench._run_all_table import print_table, table_rows

CONSUMERS, THREADS = 2, 4
# name: (script, --quick arguments, full arguments); each also gets --json.
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "throughput": (
        "throughput.py",
        ["--quick", "--only", "pg", "-c", str(CONSUMERS), "-t", str(THREADS)],
        ["-n", "3000", "-c", str(CONSUMERS), "-t", str(THREADS), "--pg-rate", "125"],
    ),
    "real_path": ("real_path.py", ["--requests", "500"], []),
    "webhooks": ("webhooks.py", ["--seconds", "3", "--clients", "8"], ["--clients", "8"]),
    "console": ("console.py", ["--executions", "100000", "--samples", "5"], []),
    "cleanup": ("cleanup.py", ["--quick"], []),
    "dashboard": ("dashboard_queries.py", ["--executions", "50000", "--samples", "3"], []),
    "stats": ("stats_queries.py", ["--executions", "50000", "--samples", "3"], []),
    "failures": ("failures.py", ["--executions", "50000", "--unique-errors", "5000"], []),
    "demo_seed": ("demo_seed.py", ["--executions", "50000", "--only", "pg"], ["--only", "pg"]),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts (a few minutes)")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--json", action="store_true", help="print everything as one JSON object")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    add_admin_url(parser)
    args = parser.parse_args(argv)
    args.selected = [name.strip() for name in args.only.split(",") if name.strip()] or list(
        BENCHMARKS
    )
    unknown = [name for name in args.selected if name not in BENCHMARKS]
    if unknown:
        parser.error(
            f"--only: unknown benchmark {unknown[0]!r} (choose from {', '.join(BENCHMARKS)})"
        )
    return args


def measure_baselines(args: argparse.Namespace) -> dict[str, Any]:
    """The raw figures every ratio is taken against, measured now on this machine."""
    quick = args.quick
    seconds = 2.0 if quick else 5.0
    base: dict[str, Any] = {}
    children = Children()
    with tempfile.TemporaryDirectory(prefix="wf-bench-raw-") as tmp:
        try:
            tasks = 2000 if quick else 10_000
            note(f"baseline: raw Huey no-op, {CONSUMERS} consumers x {THREADS} threads, {tasks}")
            huey = raw_redis_rate(children, args.redis_url, tasks, CONSUMERS, THREADS, Path(tmp))
            base["huey_noop_per_second"] = huey.per_second
        finally:
            children.stop_all()
    with fresh_database(args.admin_url, "wf_bench_raw") as url:
        note("baseline: PostgreSQL single-row INSERT commits, COPY rows")
        base["pg_insert"] = pg_insert_commits(url, seconds).as_dict()
        base["pg_copy_rows_per_second"] = pg_copy_rows(url, 200_000 if quick else 1_000_000)
    note("baseline: Redis PING and LPUSH round trips")
    base["redis"] = {
        op: loop.as_dict() for op, loop in redis_round_trips(args.redis_url, seconds).items()
    }
    return base


def run_benchmark(name: str, quick: bool) -> tuple[dict[str, Any] | None, float, str]:
    """Run one script with --json; (its figures or None, seconds, what went wrong)."""
    script, quick_args, full_args = BENCHMARKS[name]
    command = [PYTHON, str(BENCH / script), *(quick_args if quick else full_args), "--json"]
    note(f"{name}: {' '.join(command[1:])}")
    started = time.monotonic()
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=3 * 3600, check=False)
    seconds = time.monotonic() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return None, seconds, f"exit {done.returncode}, {len(lines)} JSON lines"
    return json.loads(lines[-1]), seconds, ""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with terminate_as_interrupt():
        try:
            machine = describe(args.admin_url, args.redis_url)
            started = time.monotonic()
            base = measure_baselines(args)
            results: dict[str, Any] = {}
            timings: dict[str, float] = {}
            failed: dict[str, str] = {}
            for name in args.selected:
                figures, seconds, problem = run_benchmark(name, args.quick)
                timings[name] = seconds
                if figures is None:
                    failed[name] = problem
                    note(f"  {name} FAILED: {problem}")
                else:
                    results[name] = figures
                    note(f"  {name} done in {seconds:.0f}s")
        except KeyboardInterrupt:
            note("interrupted")
            return 130
    machine["load average at end"] = " ".join(f"{v:.1f}" for v in os.getloadavg())
    machine["run"] = f"{'--quick' if args.quick else 'full'}, {time.monotonic() - started:.0f} s"
    if args.json:
        print(json.dumps({"machine": machine, "baselines": base, "results": results,
                          "seconds": timings, "failed": failed}, default=str))  # fmt: skip
    else:
        print_table(machine, base, table_rows(results, base), failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
