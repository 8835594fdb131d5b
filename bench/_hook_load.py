"""The load generator of bench/real_path.py, run as its own process so its CPU is its own.

Sends ``--requests`` signed ``POST /hooks/<path>`` from ``--threads`` threads, each
request on a NEW connection (``http.client.HTTPConnection`` per request, ``Connection:
close``), as webhook senders usually do. Each body is a unique order,
``{"order_id": "<prefix>-<i>", "amount": 900 or 100, "currency": "EUR"}`` (with the
default ``--skip-share 0.5`` even ``i`` are above 500, odd ones below), signed
``X-Wf-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`` with the
secret from ``$WF_BENCH_HOOK_SECRET`` (empty = unsigned).

Prints one JSON object on stdout: wall-clock (``time.time()``) start of the first
request and end of the last answer, status counts (connection errors as ``"error:<Type>"``),
the first few non-202 answers, latency percentiles, and this process's user+system CPU
seconds while sending (interpreter start-up excluded).

    python bench/_hook_load.py --port P --path orders --requests 2000 --threads 8
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import math
import os
import threading
import time


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered)))) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="orders", help="the hook path (POST /hooks/PATH)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--prefix", default="ord", help="order id prefix (unique per run)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests/s in all, evenly paced (0: as fast as possible)",
    )
    parser.add_argument(
        "--skip-share",
        type=float,
        default=0.5,
        help="share of orders with amount 100 (spread evenly; 0.5 = every odd one)",
    )
    args = parser.parse_args()
    secret = os.environ.get("WF_BENCH_HOOK_SECRET", "").encode()
    url = f"/hooks/{args.path}"

    lock = threading.Lock()
    next_index = [0]
    statuses: dict[str, int] = {}
    problems: list[str] = []
    latencies: list[float] = []
    stamps: list[tuple[float, float]] = []  # (first start, last end) per thread
    ready = threading.Barrier(args.threads + 1)

    def low(i: int) -> bool:
        """Order ``i`` is below the threshold: the i-th step of an even spread."""
        return math.floor((i + 1) * args.skip_share) > math.floor(i * args.skip_share)

    begin = [0.0]  # when the first request may go (set as the threads are released)

    def take() -> int | None:
        with lock:
            i = next_index[0]
            if i >= args.requests:
                return None
            next_index[0] = i + 1
        if args.rate > 0:  # request i goes at i / rate seconds after the start
            delay = begin[0] + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return i

    def sender() -> None:
        mine: list[float] = []
        seen: dict[str, int] = {}
        first = last = float("nan")
        ready.wait()
        while (i := take()) is not None:
            body = json.dumps(
                {
                    "order_id": f"{args.prefix}-{i}",
                    "amount": 100 if low(i) else 900,
                    "currency": "EUR",
                },
                separators=(",", ":"),
            ).encode()
            headers = {"Content-Type": "application/json", "Connection": "close"}
            if secret:
                headers["X-Wf-Signature"] = signature(secret, int(time.time()), body)
            started = time.time()
            if first != first:  # NaN: this thread's first request
                first = started
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=args.timeout)
            try:
                conn.request("POST", url, body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
                key = str(response.status)
                if response.status != 202 and len(problems) < 10:
                    problems.append(f"{response.status} {answer[:200].decode(errors='replace')}")
            except (OSError, http.client.HTTPException) as exc:
                key = f"error:{type(exc).__name__}"
                if len(problems) < 10:
                    problems.append(f"{key}: {exc}")
            finally:
                conn.close()
            last = time.time()
            mine.append((last - started) * 1000)
            seen[key] = seen.get(key, 0) + 1
        with lock:
            latencies.extend(mine)
            stamps.append((first, last))
            for key, count in seen.items():
                statuses[key] = statuses.get(key, 0) + count

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    cpu_before = os.times()
    begin[0] = time.monotonic()
    ready.wait()
    for thread in threads:
        thread.join()
    cpu_after = os.times()
    used = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    starts = [s for s, _ in stamps if s == s]
    ends = [e for _, e in stamps if e == e]
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "first_start": min(starts, default=float("nan")),
                "last_end": max(ends, default=float("nan")),
                "statuses": statuses,
                "problems": problems,
                "p50_ms": percentile(latencies, 50),
                "p99_ms": percentile(latencies, 99),
                "max_ms": max(latencies, default=float("nan")),
                "cpu_seconds": used,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
