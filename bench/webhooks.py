"""Accepted webhooks per second: signed POST → 202 with the row committed and enqueued.

Starts ``wfconsole serve`` as its own process (one uvicorn worker) on PostgreSQL + Redis
and on the local default (SQLite + SqliteHuey), and a bare uvicorn + Starlette app that
answers 202 and does nothing, as the baseline measured in the same run. A load generator
of --clients threads, each with a keep-alive httpx client, sends signed JSON bodies for
--seconds and reports requests/s and latency percentiles. No consumer runs: what is
measured is accepting, not executing.

    .venv/bin/python bench/webhooks.py [--seconds 10] [--clients 16]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._args import add_admin_url
from bench._procs import PYTHON, Children, fresh_database, note, percentile
from engine.config import Settings
from engine.db import connect_database, open_database, upgrade
from engine.http.signature import sign
from engine.services.workflows import save_document

SECRET = "bench-secret"
REDIS_URL = "redis://127.0.0.1:6379/12"
WORKFLOW = {
    "name": "bench-hook",
    "enabled": True,
    "triggers": [{"type": "webhook", "path": "bench", "secret": "${WF_BENCH_HOOK_SECRET}"}],
    "actions": [{"type": "create_task", "title": "{{ trigger.n }}"}],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def load(port: int, seconds: float, clients: int) -> tuple[float, list[float], dict[int, int]]:
    """Requests/s, latencies (ms) and status counts over ``seconds`` from ``clients``."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(number: int) -> None:
        mine: list[float] = []
        seen: dict[int, int] = {}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            n = 0
            while time.monotonic() < stop:
                body = json.dumps({"client": number, "n": n}).encode()
                headers = {
                    "X-Wf-Signature": sign(SECRET, int(time.time()), body),
                    "Content-Type": "application/json",
                }
                started = time.perf_counter()
                status = http.post("/hooks/bench", content=body, headers=headers).status_code
                mine.append((time.perf_counter() - started) * 1000)
                seen[status] = seen.get(status, 0) + 1
                n += 1
        with lock:
            latencies.extend(mine)
            for status, count in seen.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.monotonic() - started), latencies, statuses


def serve(children: Children, config: Path) -> int:
    port = free_port()
    children.start(
        [PYTHON, "-m", "wfconsole", "serve", "--port", str(port), "--config", str(config)],
        env={"WF_BENCH_HOOK_SECRET": SECRET, "LOG_LEVEL": "WARNING"},
    )
    wait_listening(port)
    return port


FIGURES: dict[str, dict[str, object]] = {}
"""Each scenario's figures, printed as JSON with ``--json``."""
QUIET = [False]


def report(label: str, rate: float, latencies: list[float], statuses: dict[int, int],
           baseline: float | None) -> None:  # fmt: skip
    FIGURES[label] = {
        "per_second": rate,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "statuses": {str(k): v for k, v in statuses.items()},
    }
    if QUIET[0]:
        return
    ratio = f"{rate / baseline:.2f}" if baseline else "-"
    print(
        f"{label:<34} {rate:>8,.0f}/s  ratio {ratio:>5}  p50 {percentile(latencies, 50):6.1f} ms"
        f"  p99 {percentile(latencies, 99):6.1f} ms  statuses {dict(sorted(statuses.items()))}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_admin_url(parser)
    args = parser.parse_args()
    QUIET[0] = args.json
    os.environ["WF_BENCH_HOOK_SECRET"] = SECRET
    if not args.json:
        print(
            f"cpus {os.cpu_count()}, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
    children = Children()
    try:
        port = free_port()
        children.start(
            [PYTHON, "-m", "uvicorn", "bench._noop_asgi:app", "--port", str(port),
             "--log-level", "warning"],
        )  # fmt: skip
        wait_listening(port)
        note("baseline: bare uvicorn + Starlette")
        base_rate, base_lat, base_status = load(port, args.seconds, args.clients)
        report("uvicorn + Starlette, no work", base_rate, base_lat, base_status, None)

        with tempfile.TemporaryDirectory(prefix="wf-bench-hooks-") as scratch:
            url = f"sqlite:///{Path(scratch) / 'hooks.db'}"
            db = open_database(Settings.model_validate({"database": {"url": url}}))
            save_document(db, WORKFLOW, actor="bench")
            db.dispose()
            config = Path(scratch) / "sqlite.toml"
            config.write_text(
                f'[database]\nurl = "{url}"\n[queue]\npath = "{Path(scratch) / "q.db"}"\n'
                # Accepting only, as on PostgreSQL: serve's embedded worker stays off.
                "embedded_worker = false\n"
                "[security]\nrate_limit_per_minute = 100000000\n",
                encoding="utf-8",
            )
            note("SQLite + SqliteHuey")
            rate, lat, status = load(serve(children, config), args.seconds, args.clients)
            report("SQLite + SqliteHuey", rate, lat, status, base_rate)
            children.stop_all()

        with fresh_database(args.admin_url, "wf_bench_hooks") as pg_url:
            db = connect_database(Settings.model_validate({"database": {"url": pg_url}}))
            upgrade(db)
            save_document(db, WORKFLOW, actor="bench")
            db.dispose()
            client = redis.Redis.from_url(REDIS_URL)
            client.flushdb()
            with tempfile.TemporaryDirectory(prefix="wf-bench-hooks-") as scratch:
                config = Path(scratch) / "pg.toml"
                config.write_text(
                    f'[database]\nurl = "{pg_url}"\n[queue]\nredis_url = "{REDIS_URL}"\n'
                    'name = "wf-bench-hooks"\n'
                    "[security]\nrate_limit_per_minute = 100000000\n",
                    encoding="utf-8",
                )
                note("PostgreSQL + Redis")
                rate, lat, status = load(serve(children, config), args.seconds, args.clients)
                report("PostgreSQL + Redis", rate, lat, status, base_rate)
                children.stop_all()
            client.flushdb()
            client.close()
    finally:
        children.stop_all()
    if args.json:
        print(json.dumps(FIGURES))
    else:
        print(f"load average after {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
