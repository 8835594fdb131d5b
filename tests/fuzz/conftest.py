"""Hypothesis profiles for the fuzz suite, and the ``fuzz`` marker on every test here.

``fuzz`` (the default) is bounded for CI: a fixed seed (the same examples every run, so a
failure reproduces), no example database, and deadlines loose enough for a loaded
2-core machine (one CLI import example took 3.4 s there while the suite ran on both
cores: 10 s still catches an input that makes the code take forever).
``fuzz-soak`` (``WFCONSOLE_SOAK=1``) is random and runs each property
budget.SOAK_FACTOR times as many examples.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz.budget import SOAK

_SLOW_INPUTS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

settings.register_profile(
    "fuzz",
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=10),
    suppress_health_check=_SLOW_INPUTS,
    print_blob=True,
)
settings.register_profile(
    "fuzz-soak",
    derandomize=False,
    database=None,
    deadline=timedelta(seconds=10),
    suppress_health_check=_SLOW_INPUTS,
    print_blob=True,
)
settings.load_profile("fuzz-soak" if SOAK else "fuzz")

_HERE = Path(__file__).resolve().parent


SOAK_TIMEOUT = 3600  # seconds per test; the suite's 120 s fits only the CI budget


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/fuzz with ``fuzz`` (``-m fuzz`` / ``-m 'not fuzz'``),
    and give soak runs the time their examples need."""
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.fuzz)
            if SOAK:
                item.add_marker(pytest.mark.timeout(SOAK_TIMEOUT))
