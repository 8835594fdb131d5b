"""What machine a benchmark ran on, so a table of figures can cite it."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import psycopg
import redis


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return float("nan")


def describe(pg_url: str, redis_url: str) -> dict[str, str]:
    """CPU model, cores, RAM, PostgreSQL and Redis versions and settings, Python, load."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        pg = {
            name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in ("server_version", "synchronous_commit", "shared_buffers")
        }
    client = redis.Redis.from_url(redis_url)
    try:
        redis_version = str(client.info("server")["redis_version"])
    finally:
        client.close()
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    return {
        "cpu": f"{_cpu_model()}, {os.cpu_count()} cores",
        "memory": f"{_memory_gib():.0f} GiB",
        "postgresql": f"{pg['server_version'].split()[0]} (synchronous_commit="
        f"{pg['synchronous_commit']}, shared_buffers={pg['shared_buffers']})",
        "redis": redis_version,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load average at start": load,
    }
