"""The action protocol: every action type is one function from its rendered spec to a result.

The executor calls ``run_action``, which fills the step's templates and resolves its secret
references (from the definition's own text: engine/actions/secret_references.py); an action
raises ``ActionError`` (transient or permanent) or returns an ``ActionOutput``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.actions.errors import ActionError
from engine.actions.secret_references import render_fields
from engine.config import Settings
from engine.db import Database

# Fields every action has that are about the step, not the message it sends.
STEP_FIELDS = frozenset({"type", "name", "continue_on_error", "emit_event"})
# Action types whose own field shadows a step field (a project's ``name`` is its name).
OWN_FIELDS: dict[str, frozenset[str]] = {"create_project": frozenset({"name"})}


@dataclass(frozen=True)
class StepContext:
    """What an action may know about the step it runs in."""

    execution_id: str
    step_index: int
    deadline: float  # time.monotonic() value: the workflow's timeout
    settings: Settings
    db: Database

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
_RUNNERS: dict[str, ActionRunner] = {}


def action(kind: str) -> Callable[[ActionRunner], ActionRunner]:
    """Register the runner of one action type."""

    def register(runner: ActionRunner) -> ActionRunner:
        _RUNNERS[kind] = runner
        return runner

    return register


_loaded = threading.Event()
_load_lock = threading.Lock()


def _load_runners() -> None:
    # Importing the modules registers their runners. Steps run on several threads at once:
    # one thread imports them all while the others wait, so none sees a half-filled table.
    with _load_lock:
        if not _loaded.is_set():
            _import_runners()
            _loaded.set()


def _import_runners() -> None:
    from engine.actions import (
        email_action,  # noqa: F401
        record_actions,  # noqa: F401
        slack_action,  # noqa: F401
        sms_action,  # noqa: F401
        teams_action,  # noqa: F401
        webhook_action,  # noqa: F401
    )


def run_action(spec: Any, context: dict[str, Any], ctx: StepContext) -> ActionOutput:
    """Render the spec's templates against ``context`` and run the action it names."""
    if not _loaded.is_set():
        _load_runners()
    runner = _RUNNERS.get(spec.type)
    if runner is None:
        raise ActionError(
            f"action type {spec.type!r} cannot run in this version of wfconsole", transient=False
        )
    fields = {
        name: getattr(spec, name)
        for name in type(spec).model_fields
        if name not in STEP_FIELDS or name in OWN_FIELDS.get(spec.type, ())
    }
    return runner(render_fields(spec.type, fields, context, vault=ctx.db.vault), ctx)
