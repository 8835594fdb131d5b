"""The ``wfconsole`` command line: the command table, its commands and one-line errors.

``main`` is the console script's entry point (``wfconsole = "wfconsole.cli:main"``).
"""

from __future__ import annotations

from wfconsole.cli.entry_point import build_parser, main

__all__ = ["build_parser", "main"]
