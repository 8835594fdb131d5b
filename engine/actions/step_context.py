"""What an action gets and gives: its step's context in, an output (or an ActionError) out.

Every action type is one function ``(rendered fields, StepContext) -> ActionOutput``; the
table of them is ``engine.actions.registry.RUNNERS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.config import Settings
from engine.db import Database


@dataclass(frozen=True)
class StepContext:
    """What an action may know about the step it runs in."""

    execution_id: str
    step_index: int
    deadline: float  # time.monotonic() value: the workflow's timeout
    settings: Settings
    db: Database
    secrets: tuple[str, ...] = ()
    """Secret values this step's fields resolved (credential headers, chat URLs): masked
    wherever a peer echoes them back, in any spelling."""

    @property
    def idempotency_key(self) -> str:
        """Stable across retries of the same step: ``<execution id>:<step>``."""
        return f"{self.execution_id}:{self.step_index}"

    def remaining(self) -> float:
        """Seconds left before the workflow's timeout."""
        return self.deadline - time.monotonic()


@dataclass(frozen=True)
class ActionOutput:
    """A finished action: JSON-able data for the step record and a one-line summary."""

    data: dict[str, Any]
    summary: str


ActionRunner = Callable[[dict[str, Any], StepContext], ActionOutput]
"""One action type's implementation."""
