"""The queue: its Huey instance, signed JSON messages, task locks, the sweeper, heartbeats.

``huey_consumer engine.queue.huey -w N`` (the contract's worker command) resolves
``huey`` here: the worker runtime (engine/workers/runtime.py) builds it on first access
from the configuration (``$WFCONSOLE_CONFIG`` or ./wfconsole.toml or the environment). It
is loaded by name, as Huey loads it, because the runtime sits above this package.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name == "huey":
        return importlib.import_module("engine.workers.runtime").default_queue().huey
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
