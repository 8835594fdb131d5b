"""Command-line pieces every PostgreSQL benchmark shares."""

from __future__ import annotations

import argparse
import os

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def add_admin_url(parser: argparse.ArgumentParser) -> None:
    """``--admin-url``: the server the benchmark creates its databases on."""
    parser.add_argument(
        "--admin-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)
    )


def print_load() -> None:
    """One line: cores and load average, so a figure can be judged by its conditions."""
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"cpus {os.cpu_count()}, load average {load}")
