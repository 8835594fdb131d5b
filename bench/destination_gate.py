"""What the destinations gate costs the hot path (issue 16), on PostgreSQL and SQLite.

- ``refresh``: what the executor does before every wave of steps — one
  ``SELECT sum(generation) FROM destination_state`` (50 rows held or failing), the
  snapshot re-read only when that moved; beside the same pool's bare ``SELECT 1``.
- ``begin_call`` + ``end_call``: what every outbound call adds (a dict look-up, a lock,
  a few additions; the breaker off); beside a bare pair of ``time.monotonic()`` calls.

    .venv/bin/python bench/destination_gate.py [--samples 2000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._seeded import drop_database, median_ms
from engine.config import Settings
from engine.db import Database, connect_database, open_database, upgrade
from engine.models import utcnow
from engine.outbound import holds
from engine.outbound.gate import OutboundGate

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_NAME = "wf_bench_destination_gate"


def _seed_states(db: Database) -> None:
    with db.engine.begin() as conn:
        for index in range(50):
            holds.set_hold(conn, f"host{index}.example.com", actor="bench", until=None,
                           now=utcnow())  # fmt: skip


def _figures(db: Database, settings: Settings, samples: int) -> dict[str, float]:
    _seed_states(db)
    gate = OutboundGate()
    gate.configure(db, settings, "bench:1:x")
    gate.refresh()

    def select_one() -> None:
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1")).scalar()

    refresh = median_ms(gate.refresh, samples)
    bare = median_ms(select_one, samples)
    started = time.perf_counter()
    for _ in range(samples * 10):
        gate.end_call(gate.begin_call("api.example.com"), error=False, status=200)
    per_call_us = (time.perf_counter() - started) / (samples * 10) * 1e6
    started = time.perf_counter()
    for _ in range(samples * 10):
        time.monotonic()
        time.monotonic()
    bare_call_us = (time.perf_counter() - started) / (samples * 10) * 1e6
    gate.stop()
    return {
        "refresh_ms": round(refresh, 4), "select_1_ms": round(bare, 4),
        "call_us": round(per_call_us, 2), "bare_monotonic_pair_us": round(bare_call_us, 2),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_NAME}"
    drop_database(ADMIN_URL, PG_NAME)
    with sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT").connect() as admin:
        admin.execute(sa.text(f"CREATE DATABASE {PG_NAME}"))
    settings = Settings.model_validate({"database": {"url": url}})
    db = connect_database(settings)
    try:
        upgrade(db)
        results["postgresql"] = _figures(db, settings, args.samples)
    finally:
        db.dispose()
        drop_database(ADMIN_URL, PG_NAME)
    with tempfile.TemporaryDirectory() as tmp:
        lite = Settings.model_validate({"database": {"url": f"sqlite:///{Path(tmp) / 'b.db'}"}})
        db = open_database(lite)
        try:
            results["sqlite"] = _figures(db, lite, args.samples)
        finally:
            db.dispose()
    for backend, figures in results.items():
        print(f"{backend:10}  refresh {figures['refresh_ms']:.3f} ms (bare SELECT 1 "
              f"{figures['select_1_ms']:.3f} ms); begin+end per call {figures['call_us']:.1f} us"
              f" (two monotonic() {figures['bare_monotonic_pair_us']:.2f} us)",
              file=sys.stderr if args.json else sys.stdout)  # fmt: skip
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
