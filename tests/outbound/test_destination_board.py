"""The board's arithmetic, the destination names, ``/metrics``, the REST API and the
workers' pass (expired holds, runs left waiting, old minute rows), on SQLite.

Percentiles come from fixed log-spaced buckets: exact to the bucket, interpolated inside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from engine.db import Database
from engine.execution import claims as store
from engine.http.metrics import scrape
from engine.models import Role, utcnow
from engine.outbound import holds
from engine.outbound.call_stats import MINUTES, CallStats, bucket_of, percentile, write_figures
from engine.outbound.destinations import InvalidDestination, destination_of_url, parse_destination
from engine.services.destination_holds import KEEP_MINUTES_FOR, release_due
from engine.services.destinations import destination_board, hold
from engine.services.workflows import save_document
from tests.api_client import Api, running_api
from tests.execution_support import workflow_document

E = store.E


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Hooks.Example.com/x?y=1", "hooks.example.com"),
        ("https://hooks.example.com:443/x", "hooks.example.com"),
        ("http://hooks.example.com:80/", "hooks.example.com"),
        ("http://hooks.example.com:443/", "hooks.example.com"),  # 80, 443: whatever the scheme
        ("https://hooks.example.com:80/", "hooks.example.com"),
        ("https://hooks.example.com:8443/", "hooks.example.com:8443"),
        ("http://127.0.0.1:8125/hook", "127.0.0.1:8125"),
        ("http://[::1]:8125/hook", "[::1]:8125"),
        ("http://[0:0:0:0:0:0:0:1]:8125/hook", "[::1]:8125"),
        ("http://[2001:DB8:0::1]/hook", "[2001:db8::1]"),
        ("http://[::ffff:127.0.0.1]/hook", "[::ffff:7f00:1]"),
        ("http://[fe80::1%25eth0]:8125/hook", "[fe80::1]:8125"),  # the zone is dropped
        ("https://user:pw@api.twilio.com/2010-04-01", "api.twilio.com"),
        ("not a url", ""),
        ("http://host:99999999/", ""),
    ],
)
def test_the_destination_of_a_url(url: str, expected: str) -> None:
    assert destination_of_url(url) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hooks.Example.COM.", "hooks.example.com"),
        ("hooks.example.com:443", "hooks.example.com"),
        ("smtp.example.com:587", "smtp.example.com:587"),
        ("127.0.0.1:8125", "127.0.0.1:8125"),
        ("[::1]:8125", "[::1]:8125"),
        ("[2001:db8::1]", "[2001:db8::1]"),
        ("[2001:DB8:0:0::1]:80", "[2001:db8::1]"),
        ("[::FFFF:7F00:1]:8125", "[::ffff:7f00:1]:8125"),
        ("hooks.example.com:80", "hooks.example.com"),
    ],
)
def test_an_operators_destination_is_canonical(text: str, expected: str) -> None:
    assert parse_destination(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", " ", "http://x", "x/y", "x:0", "x:65536", "x:-1", "x:", ":80", "[::1", "[zz]:1",
     "::1", "a b", "a\nb", "a\x00b", "é.example.com", "-a.example.com", "a" * 64 + ".com",
     "x:8a", "x:\uff11\uff12", "[::1%eth0]", "[fe80::1%evil host]:8125"],
)  # fmt: skip
def test_a_bad_destination_is_one_clear_error(text: str) -> None:
    with pytest.raises(InvalidDestination, match=r"expected (HOST or HOST:PORT|\[IPV6\])"):
        parse_destination(text)


LONG_HOST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 63, "example"])  # 263 characters


@pytest.mark.parametrize("text", ["x" * 300, LONG_HOST, LONG_HOST[:201], LONG_HOST[:196] + ":8125"])
def test_a_destination_is_at_most_200_characters(text: str) -> None:
    with pytest.raises(InvalidDestination, match="longer than 200 characters"):
        parse_destination(text)


def test_a_longer_host_is_shortened_with_a_hash_an_operator_can_hold() -> None:
    name = destination_of_url(f"https://{LONG_HOST}/hook")
    assert len(name) == 193 and name.startswith(LONG_HOST[:180] + "~")
    assert parse_destination(name.upper()) == name  # the board's name holds it
    assert destination_of_url(f"http://{LONG_HOST}:443/") == name
    assert destination_of_url(f"http://{LONG_HOST}:8125/") not in (name, "")
    assert destination_of_url(f"https://{LONG_HOST}.org/") != name
    assert destination_of_url(f"https://{LONG_HOST[:195]}:8125/") == LONG_HOST[:195] + ":8125"
    assert parse_destination(LONG_HOST[:195] + ":8125") == LONG_HOST[:195] + ":8125"


def test_percentiles_come_from_the_buckets() -> None:
    buckets = [0] * 15
    for latency in [3.0] * 50 + [40.0] * 45 + [900.0] * 5:
        buckets[bucket_of(latency)] += 1
    p50, p95, p99 = (percentile(buckets, q) for q in (0.5, 0.95, 0.99))
    assert p50 is not None and 2.0 <= p50 <= 5.0  # 3 ms falls in (2, 5]
    assert p95 is not None and 20.0 <= p95 <= 50.0
    assert p99 is not None and 500.0 <= p99 <= 1000.0
    assert percentile([0] * 15, 0.5) is None
    slow = [0] * 15
    slow[-1] = 3  # past the last bound: reported as that bound
    assert percentile(slow, 0.99) == 30000.0


def test_the_board_sums_every_workers_rows(sqlite_db: Database) -> None:
    for worker, latencies in (("a:1:x", [10.0, 10.0]), ("b:2:y", [100.0, 100.0, 100.0])):
        stats = CallStats()
        for latency in latencies:
            stats.record("hooks.example.com", latency, error=latency > 50)
        write_figures(sqlite_db, worker, stats.take_dirty())
        stats.record("hooks.example.com", 5.0, error=False)  # the running total is rewritten
        write_figures(sqlite_db, worker, stats.take_dirty())
    [row] = destination_board(sqlite_db, "5m")
    assert (row.calls, row.errors, row.rate_limited) == (7, 3, 0)
    assert row.error_rate == pytest.approx(3 / 7)
    assert row.p50_ms is not None and 5.0 <= row.p50_ms <= 20.0


def test_metrics_show_calls_errors_holds_and_circuits(sqlite_db: Database) -> None:
    save_document(sqlite_db, workflow_document("flow", ["http://x/"]), actor="tester")
    stats = CallStats()
    stats.record("hooks.example.com", 10.0, error=False)
    stats.record("hooks.example.com", 10.0, error=True)
    write_figures(sqlite_db, "a:1:x", stats.take_dirty())
    hold(sqlite_db, "held.example.com", actor="tester")
    with sqlite_db.engine.begin() as conn:
        holds.ensure_row(conn, "open.example.com", utcnow())
        conn.execute(sa.update(holds.STATES).where(holds.S.destination == "open.example.com")
                     .values(breaker_state="open", opened_at=utcnow()))  # fmt: skip
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in scrape(sqlite_db, None)
        for sample in family.samples
    }

    def sample(name: str, destination: str) -> float | None:
        return samples.get((name, (("destination", destination),)))

    assert sample("wfconsole_destination_calls_total", "hooks.example.com") == 2
    assert sample("wfconsole_destination_errors_total", "hooks.example.com") == 1
    assert sample("wfconsole_destination_held", "hooks.example.com") == 0
    assert sample("wfconsole_destination_held", "held.example.com") == 1
    assert sample("wfconsole_destination_circuit_open", "open.example.com") == 1
    assert sample("wfconsole_destination_circuit_open", "held.example.com") == 0


def _waiting_run(db: Database, destination: str) -> str:
    """A PENDING run handed back to wait for ``destination`` (as an attempt leaves it)."""
    from engine.triggers.new_executions import run_workflow

    class NoQueue:
        def dispatch(self, execution_id: str, delay: float | None = None) -> None:
            pass

    [execution_id] = run_workflow(db, NoQueue(), "flow", actor="tester")
    with db.engine.begin() as conn:
        conn.execute(sa.update(store.EXECUTIONS).where(E.id == execution_id).values(
            waiting="destination", waiting_for=destination,
            available_at=utcnow() + holds.WAIT_HORIZON))  # fmt: skip
    return execution_id


def _row(db: Database, execution_id: str) -> Any:
    with db.engine.connect() as conn:
        query = sa.select(E.status, E.waiting, E.waiting_for, E.available_at)
        return conn.execute(query.where(E.id == execution_id)).one()


def test_the_workers_pass_ends_expired_holds_and_sends_their_runs(sqlite_db: Database) -> None:
    save_document(sqlite_db, workflow_document("flow", ["http://x/"]), actor="tester")
    hold(sqlite_db, "expired.example.com", actor="tester", for_=timedelta(seconds=1))
    hold(sqlite_db, "held.example.com", actor="tester")
    expired = _waiting_run(sqlite_db, "expired.example.com")
    still_held = _waiting_run(sqlite_db, "held.example.com")
    orphan = _waiting_run(sqlite_db, "never-held.example.com")  # its hold ended meanwhile
    with sqlite_db.engine.begin() as conn:  # the hold's time is up
        conn.execute(sa.update(holds.STATES)
                     .where(holds.S.destination == "expired.example.com")
                     .values(held_until=utcnow() - timedelta(seconds=1)))  # fmt: skip
    sent: list[str] = []

    class Recorder:
        def dispatch(self, execution_id: str, delay: float | None = None) -> None:
            sent.append(execution_id)

    assert release_due(sqlite_db, Recorder(), breaker_enabled=False) == 2
    assert sorted(sent) == sorted([expired, orphan])
    for execution_id in (expired, orphan):
        row = _row(sqlite_db, execution_id)
        assert (row.status, row.waiting, row.waiting_for) == ("PENDING", None, None)
    assert _row(sqlite_db, still_held).waiting == "destination"
    held = {r.destination for r in destination_board(sqlite_db, "5m") if r.held}
    assert held == {"held.example.com"}


def test_old_minute_rows_are_pruned(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.services.destination_holds as destination_holds

    # A worker's first pass prunes, even on a machine booted a minute ago (the monotonic
    # clock of some systems counts from boot).
    monkeypatch.setattr(destination_holds, "_last_prune", None)
    monkeypatch.setattr(destination_holds, "time", SimpleNamespace(monotonic=lambda: 60.0))
    stats = CallStats()
    stats.record("hooks.example.com", 10.0, error=False)
    rows = stats.take_dirty()
    old = [(d, m - KEEP_MINUTES_FOR - timedelta(minutes=5), f) for d, m, f in rows]
    write_figures(sqlite_db, "a:1:x", old + rows)
    release_due(sqlite_db, None, breaker_enabled=False)
    with sqlite_db.engine.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(MINUTES)).scalar_one()
    assert left == 1


@pytest.fixture
def api(sqlite_db: Database, tmp_path: Path) -> Iterator[Api]:
    yield from running_api(sqlite_db, tmp_path)


def test_the_api_holds_and_releases_with_roles_and_audit(api: Api) -> None:
    refused = api.post("/destinations/hooks.example.com/hold", role=Role.VIEWER)
    held = api.post("/destinations/hooks.example.com:8443/hold?for=10m", role=Role.OPERATOR)
    bad = api.post("/destinations/a%20b:80/hold", role=Role.OPERATOR)
    bad_for = api.post("/destinations/x.example.com/hold?for=soon", role=Role.OPERATOR)
    board = api.get("/destinations?window=1h")
    bad_window = api.get("/destinations?window=2h")
    released = api.post("/destinations/hooks.example.com:8443/release", role=Role.OPERATOR)

    assert refused.status_code == 403 and "needs OPERATOR" in refused.json()["error"]
    assert held.status_code == 200, held.text
    assert held.json()["destination"] == "hooks.example.com:8443" and held.json()["held_until"]
    assert (bad.status_code, bad.json()["field"]) == (400, "destination")
    assert (bad_for.status_code, bad_for.json()["field"]) == (400, "for")
    assert board.status_code == 200
    [row] = board.json()["destinations"]
    assert row["held"] and row["held_by"] == "otto"
    assert (bad_window.status_code, bad_window.json()["field"]) == (400, "window")
    assert released.json() == {"destination": "hooks.example.com:8443", "was_held": True,
                               "released": 0}  # fmt: skip
    assert [a.actor for a in api.audit("destination.hold")] == ["otto"]
    assert [a.actor for a in api.audit("destination.release")] == ["otto"]


def test_the_lightweight_tables_match_the_models() -> None:
    from sqlmodel import SQLModel

    from engine.core_tables import UTCDateTime
    from engine.outbound import tables
    from tests.test_core_tables import _family

    for light in tables.ALL:
        model = SQLModel.metadata.tables[light.name]
        for column in light.columns:
            assert column.name in model.c, f"{light.name}.{column.name} is not in the model"
            modelled = model.c[column.name].type
            assert issubclass(_family(modelled), _family(column.type)) or issubclass(
                _family(column.type), _family(modelled)
            ), f"{light.name}.{column.name}: {modelled!r} vs {column.type!r}"
            if type(modelled).__name__ == "UTCDateTime":
                assert isinstance(column.type, UTCDateTime), column
    for name in ("destination_state", "destination_minute"):  # every column, for the board
        light = next(t for t in tables.ALL if t.name == name)
        assert {c.name for c in light.columns} == set(SQLModel.metadata.tables[name].c.keys())


def test_a_flush_drops_only_a_row_the_database_refuses(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One upsert; when it fails, row by row: a row refused (``DataError``) is dropped,
    the others are written — and when the database is away, every row is kept."""
    from engine.outbound import call_stats

    written: list[str] = []

    def write(db: Database, worker_id: str, rows: list[Any]) -> None:
        if any(dest == "bad" for dest, _, _ in rows):
            raise sa.exc.DataError("INSERT", {}, Exception("value too long"))
        written.extend(dest for dest, _, _ in rows)

    monkeypatch.setattr(call_stats, "write_figures", write)
    stats = CallStats()
    for name in ("bad", "good", "other"):
        stats.record(name, 1.0, error=False)
    flusher = call_stats.Flusher(stats, sqlite_db, "host:1:w")
    try:
        flusher.flush()
        assert sorted(written) == ["good", "other"]
        assert not stats.take_dirty()

        def away(db: Database, worker_id: str, rows: list[Any]) -> None:
            raise sa.exc.OperationalError("INSERT", {}, Exception("connection refused"))

        monkeypatch.setattr(call_stats, "write_figures", away)
        stats.record("good", 1.0, error=False)
        stats.record("bad", 1.0, error=False)
        flusher.flush()
        assert sorted(dest for dest, _, _ in stats.take_dirty()) == ["bad", "good"]
    finally:
        monkeypatch.setattr(call_stats, "write_figures", lambda *args: None)
        flusher.stop()
