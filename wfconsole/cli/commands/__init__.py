"""Command groups of the CLI; each module adds its sub-commands with ``register``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

CommonOptions = Callable[[argparse.ArgumentParser], None]

# Modules that define ``register(commands, common)``; order is the order of --help.
COMMAND_MODULES = (
    "wfconsole.commands.demo",
    "wfconsole.commands.database",
    "wfconsole.commands.workflow",
    "wfconsole.commands.runs",
    "wfconsole.commands.executions",
    "wfconsole.commands.worker",
    "wfconsole.commands.maintenance",
    "wfconsole.commands.serve",
    "wfconsole.commands.tokens",
    "wfconsole.commands.users",
    "wfconsole.commands.secrets",
    "wfconsole.commands.health",
    "wfconsole.commands.alerts",
    "wfconsole.commands.stats",
)


def register_all(commands: Any, common: CommonOptions) -> None:
    """Add every command group to the ``commands`` sub-parser action."""
    import importlib

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(commands, common)
