"""Who a webhook request comes from cannot be chosen by the request.

``serve`` used to let uvicorn believe ``X-Forwarded-For`` from any loopback peer, so a
client on the same host — or any client behind a local reverse proxy that passes the
header on — got a fresh rate-limit bucket for every made-up address: the limit never
bit. Now no forwarded header is believed unless ``http.trusted_proxies`` says so, and
then only the right-most address a trusted proxy added.

Real ``wfconsole serve`` processes on the local default; the rate limit is 3 a minute.
The access log (``logging.level = INFO``) must name the same client the limit counts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.config import ConfigError, load_settings
from engine.http.clients import TrustedProxies
from engine.services.workflows import save_document
from tests.chaos.harness import set_keys
from tests.chaos.processes import ServeProcess, running_serve
from tests.consumers import Deployment, deployment

pytestmark = pytest.mark.slow
LIMIT = 3


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Deployment]:
    with deployment("sqlite", tmp_path) as deployed:
        set_keys(deployed, "queue", embedded_worker=False)
        set_keys(deployed, "security", rate_limit_per_minute=LIMIT)
        set_keys(deployed, "logging", level="INFO")  # uvicorn's access log
        deployed.sections.setdefault("http", {})
        for path in ("a", "b", "c"):
            document = {"name": f"hook-{path}", "triggers": [{"type": "webhook", "path": path}],
                        "actions": [{"type": "create_task", "title": "t"}]}  # fmt: skip
            save_document(deployed.db, document, actor="t")
        yield deployed


def _fresh_window() -> None:
    """Start a burst early in a one-minute rate-limit window (it must not roll over)."""
    while time.time() % 60 > 45:
        time.sleep(1)


def _post(serve: ServeProcess, path: str, forwarded_for: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    return httpx.post(
        f"{serve.url}/hooks/{path}", content=b"{}", headers=headers, timeout=30
    ).status_code


def _access_log_clients(serve: ServeProcess, path: str) -> set[str]:
    text = serve.log_path.read_text(encoding="utf-8", errors="replace")
    return set(re.findall(rf'(\S+):\d+ - "POST /hooks/{path} HTTP/1\.1"', text))


def test_without_trusted_proxies_a_made_up_forwarded_for_gets_no_fresh_bucket(
    deployed: Deployment, tmp_path: Path
) -> None:
    _fresh_window()
    with running_serve(deployed, tmp_path / "serve.log") as serve:
        answers = [_post(serve, "a", f"198.51.100.{n}") for n in range(LIMIT + 2)]
        answers.append(_post(serve, "a", None))
        time.sleep(0.5)  # the access log line is written after the answer
        clients = _access_log_clients(serve, "a")
    assert answers == [202] * LIMIT + [429] * 3
    assert clients == {"127.0.0.1"}


def test_behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_address(
    deployed: Deployment, tmp_path: Path
) -> None:
    """The test is the proxy (127.0.0.1, trusted, as is a 10.0.0.0/8 hop before it): each
    proxy appends the address it got the request from; what the client wrote itself is
    everything left of that."""
    set_keys(deployed, "http", trusted_proxies=["127.0.0.1", "10.0.0.0/8"])
    _fresh_window()
    with running_serve(deployed, tmp_path / "serve.log") as serve:
        # One client, a new made-up address on the left each time: one bucket.
        spoofing = [_post(serve, "b", f"198.51.100.{n}, 203.0.113.7") for n in range(LIMIT + 1)]
        # Through a second trusted hop, the same client is still the same client.
        chained = _post(serve, "b", "6.6.6.6, 203.0.113.7, 10.1.2.3")
        # Another client behind the proxy has a bucket of its own.
        other = [_post(serve, "b", "203.0.113.8") for _ in range(LIMIT)]
        # A header that names only trusted proxies: the left-most of them.
        only_proxies = _post(serve, "c", "10.9.9.9, 10.1.2.3")
        # An entry that is not an address ends the walk at the hop that passed it on.
        garbage = _post(serve, "c", "203.0.113.9, not-an-address")
        time.sleep(0.5)
        clients_b = _access_log_clients(serve, "b")
        clients_c = _access_log_clients(serve, "c")
    assert spoofing == [202] * LIMIT + [429]
    assert chained == 429
    assert other == [202] * LIMIT
    assert (only_proxies, garbage) == (202, 202)
    assert clients_b == {"203.0.113.7", "203.0.113.8"}
    assert clients_c == {"10.9.9.9", "127.0.0.1"}


def test_a_peer_that_is_not_a_trusted_proxy_is_its_own_client(
    deployed: Deployment, tmp_path: Path
) -> None:
    set_keys(deployed, "http", trusted_proxies=["192.0.2.1"])  # not this test's loopback
    _fresh_window()
    with running_serve(deployed, tmp_path / "serve.log") as serve:
        answers = [_post(serve, "a", f"203.0.113.{n}") for n in range(LIMIT + 1)]
    assert answers == [202] * LIMIT + [429]


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("127.0.0.1", ["1.1.1.1"], "1.1.1.1"),
        ("127.0.0.1", ["1.1.1.1, 2.2.2.2"], "2.2.2.2"),
        ("127.0.0.1", ["1.1.1.1", "2.2.2.2"], "2.2.2.2"),  # two headers: one list
        ("127.0.0.1", ["2.2.2.2:5555"], "2.2.2.2"),
        ("127.0.0.1", ["[2001:db8::7]:443"], "2001:db8::7"),
        ("127.0.0.1", ["2001:db8::7"], "2001:db8::7"),
        ("::ffff:127.0.0.1", ["2.2.2.2"], "2.2.2.2"),  # IPv4-mapped peer
        ("127.0.0.1", ["::ffff:10.0.0.1, 2.2.2.2"], "2.2.2.2"),
        ("127.0.0.1", ["2.2.2.2, ::ffff:10.0.0.1"], "2.2.2.2"),  # mapped proxy is trusted
        ("127.0.0.1", [""], "127.0.0.1"),
        ("127.0.0.1", [" , "], "127.0.0.1"),
        ("127.0.0.1", ["unknown"], "127.0.0.1"),
        ("127.0.0.1", ["1.1.1.1, 10.0.0.1, 10.0.0.2"], "1.1.1.1"),
        ("127.0.0.1", ["x" * 5000], "127.0.0.1"),
        ("127.0.0.1", ["1.1.1.1," * 1000 + "10.0.0.1"], "1.1.1.1"),
        ("8.8.8.8", ["1.1.1.1"], "8.8.8.8"),  # not a trusted peer: the header is ignored
        ("unix-socket", ["1.1.1.1"], "unix-socket"),
    ],
)
def test_the_client_rule(peer: str, header: list[str], client: str) -> None:
    proxies = TrustedProxies(["127.0.0.0/8", "10.0.0.0/8"])
    assert proxies.client(peer, header) == client


def test_no_trusted_proxies_believes_no_header() -> None:
    assert TrustedProxies([]).client("127.0.0.1", ["1.1.1.1"]) == "127.0.0.1"


@pytest.mark.parametrize("entry", ["localhost", "10.0.0.0/33", "1.2.3", "*", ""])
def test_trusted_proxies_must_be_addresses_or_networks(tmp_path: Path, entry: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[http]\ntrusted_proxies = ["10.0.0.1", "{entry}"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"http\.trusted_proxies"):
        load_settings(config)


def test_trusted_proxies_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"WFCONSOLE_HTTP__TRUSTED_PROXIES": "10.0.0.0/8, 2001:db8::/32"}
    )
    assert settings.http.trusted_proxies == ["10.0.0.0/8", "2001:db8::/32"]
