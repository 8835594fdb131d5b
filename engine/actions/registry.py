"""The action types: an explicit table from each type to the function that runs it.

The executor calls ``run_action``, which fills the step's templates and resolves its secret
references (from the definition's own text: engine/actions/secret_references.py), then
calls the type's runner; an action raises ``ActionError`` (transient or permanent) or
returns an ``ActionOutput``. A runner's module is imported the first time a step of its
type runs, so a process that never sends (the CLI, the console) never loads twilio or
httpx.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import replace
from typing import Any

from engine.actions.errors import ActionError
from engine.actions.secret_references import render_fields
from engine.actions.step_context import ActionOutput, ActionRunner, StepContext

# Fields every action has that are about the step, not the message it sends.
STEP_FIELDS = frozenset({"type", "name", "continue_on_error", "emit_event"})
# Action types whose own field shadows a step field (a project's ``name`` is its name).
OWN_FIELDS: dict[str, frozenset[str]] = {"create_project": frozenset({"name"})}

RUNNERS: dict[str, tuple[str, str]] = {
    "email": ("engine.actions.email_action", "run_email"),
    "sms": ("engine.actions.sms_action", "run_sms"),
    "slack": ("engine.actions.slack_action", "run_slack"),
    "teams": ("engine.actions.teams_action", "run_teams"),
    "webhook": ("engine.actions.webhook_action", "run_webhook"),
    "create_task": ("engine.actions.record_actions", "run_create_task"),
    "create_project": ("engine.actions.record_actions", "run_create_project"),
    "create_invoice": ("engine.actions.record_actions", "run_create_invoice"),
}
"""Action type → (module, function) of its runner."""

_loaded: dict[str, ActionRunner] = {}
_load_lock = threading.Lock()


def runner_for(kind: str) -> ActionRunner | None:
    """The function that runs ``kind`` (None for a type this version does not know)."""
    runner = _loaded.get(kind)
    if runner is not None or kind not in RUNNERS:
        return runner
    # Steps run on several threads: one imports, the others wait for a whole module.
    with _load_lock:
        if kind not in _loaded:
            module, function = RUNNERS[kind]
            _loaded[kind] = getattr(importlib.import_module(module), function)
        return _loaded[kind]


def run_action(spec: Any, context: dict[str, Any], ctx: StepContext) -> ActionOutput:
    """Render the spec's templates against ``context`` and run the action it names."""
    runner = runner_for(spec.type)
    if runner is None:
        raise ActionError(
            f"action type {spec.type!r} cannot run in this version of wfconsole", transient=False
        )
    fields = {
        name: getattr(spec, name)
        for name in type(spec).model_fields
        if name not in STEP_FIELDS or name in OWN_FIELDS.get(spec.type, ())
    }
    secrets: list[str] = []
    rendered = render_fields(spec.type, fields, context, vault=ctx.db.vault, resolved=secrets)
    return runner(rendered, replace(ctx, secrets=tuple(secrets)) if secrets else ctx)


__all__ = ["RUNNERS", "ActionOutput", "ActionRunner", "StepContext", "run_action", "runner_for"]
