"""Fixtures for action tests: shared outbound HTTP clients are closed after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.security import outbound


@pytest.fixture(autouse=True)
def _fresh_client_cache() -> Iterator[None]:
    yield
    outbound.close_clients()
