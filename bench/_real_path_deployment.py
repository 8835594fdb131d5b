"""bench/real_path.py's deployment: the workflow, the config, the CLI, and the rows it
polls until every run is final."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import redis

from bench._procs import (
    PYTHON,
    note,
)

if TYPE_CHECKING:
    from bench._real_path_processes import Meter

HOOK_PATH = "orders"
SECRET = "bench-real-path-secret"
WORKFLOW = "bench-orders"
FINAL = ("SUCCESS", "SKIPPED", "FAILED", "CANCELLED")


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
            " count(*) FILTER (WHERE retry_count > 0),"
            # enqueue → start of the runs a worker started (the skipped ones never queue)
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY started_at - created_at)"
            "   FILTER (WHERE status <> 'SKIPPED'),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY started_at - created_at)"
            "   FILTER (WHERE status <> 'SKIPPED')"
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
            "start_p50_ms": row[5].total_seconds() * 1000 if row[5] is not None else float("nan"),
            "start_p99_ms": row[6].total_seconds() * 1000 if row[6] is not None else float("nan"),
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
