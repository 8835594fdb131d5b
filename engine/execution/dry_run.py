"""Dry run: what a workflow would do for a sample payload, without sending or storing anything.

It builds the same template context as the executor (``trigger``, ``workflow``,
``execution``, ``steps``), evaluates every condition node, and renders each action's
templated fields. Results of earlier steps do not exist in a dry run, so a template that
reads ``steps.N…`` of an earlier step stays as written and is listed as known at run time.
``${ENV}`` secret references are never expanded: they are shown as written; literal and
encrypted secrets (engine/security/secret_fields.py) are masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from engine.actions.registry import STEP_FIELDS
from engine.actions.webhook import _BODYLESS_METHODS, USER_AGENT
from engine.definitions.conditions import ConditionTrace, explain
from engine.definitions.schema import Action, WebhookAction, WorkflowDefinition
from engine.definitions.templating import (
    MISSING,
    TemplateError,
    TemplatePath,
    parse_template,
    resolve_path,
    value_as_text,
)
from engine.security.secret_fields import mask_action_fields

DRY_RUN_ID: Final = "dry-run"
_SECRET_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class ConditionLine:
    """One condition node: its depth in the tree, what it tests and whether it passed."""

    depth: int
    kind: str  # "rule" | "all" | "any" | "not"
    text: str
    passed: bool
    actual: str | None = None
    """For a rule, the value found at its path as JSON, or None when the path is missing."""


@dataclass(frozen=True)
class FieldProblem:
    """A templated field that cannot be rendered, named by its JSON path."""

    path: str  # e.g. "actions[2].body.id"
    message: str


@dataclass(frozen=True)
class HttpRequest:
    """The HTTP request a webhook step would send."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class ActionPreview:
    """One action with its fields rendered for the sample payload."""

    index: int
    type: str
    name: str | None
    fields: dict[str, Any]
    """Rendered fields; a field that failed to render keeps its template text."""
    problems: tuple[FieldProblem, ...] = ()
    deferred: tuple[str, ...] = ()
    """Template paths into earlier steps' results, known only at run time."""
    secrets: tuple[str, ...] = ()
    """Environment variables referenced as ``${NAME}`` (never expanded here)."""
    request: HttpRequest | None = None
    """For webhook steps: the request as it would be sent."""


@dataclass(frozen=True)
class DryRunResult:
    """Everything a dry run found; nothing was sent and nothing was stored."""

    workflow: str
    conditions_passed: bool
    """True when the run would go ahead (also when the workflow has no conditions)."""
    conditions: tuple[ConditionLine, ...] = ()
    actions: tuple[ActionPreview, ...] = ()
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def problems(self) -> tuple[FieldProblem, ...]:
        """Every field of every action that could not be rendered."""
        return tuple(problem for action in self.actions for problem in action.problems)


def dry_run_context(
    definition: WorkflowDefinition,
    payload: Any,
    *,
    trigger_type: str | None = None,
    workflow_id: str = DRY_RUN_ID,
    version: int = 0,
) -> dict[str, Any]:
    """The template context the executor would build for a first attempt of this payload."""
    return {
        "trigger": payload,
        "workflow": {"id": workflow_id, "name": definition.name, "version": version},
        "execution": {
            "id": DRY_RUN_ID,
            "retry_count": 0,
            "trigger_type": trigger_type or definition.triggers[0].type,
        },
        "steps": [],
    }


def condition_lines(trace: ConditionTrace, depth: int = 0) -> list[ConditionLine]:
    """The trace tree as indented lines, parents before their children."""
    lines: list[ConditionLine] = []
    stack = [(trace, depth)]
    while stack:
        node, level = stack.pop()
        actual = None
        if node.kind == "rule" and node.actual is not MISSING:
            actual = json.dumps(node.actual, ensure_ascii=False, default=str)
        lines.append(ConditionLine(level, node.kind, node.text, node.passed, actual))
        stack.extend((child, level + 1) for child in reversed(node.children))
    return lines


class _Renderer:
    """Renders one action's fields, collecting problems by path instead of stopping."""

    def __init__(self, context: Mapping[str, Any], index: int, steps_known: bool = False) -> None:
        self.context = context
        self.index = index
        self.steps_known = steps_known
        self.problems: list[FieldProblem] = []
        self.deferred: list[str] = []

    def value(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            return self.text(value, path)
        if isinstance(value, dict):
            return {key: self.value(item, f"{path}.{key}") for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item, f"{path}[{i}]") for i, item in enumerate(value)]
        return value

    def text(self, text: str, path: str) -> Any:
        if "{{" not in text:
            return text
        try:
            parts = parse_template(text)
            values = [part if isinstance(part, str) else self.resolve(part) for part in parts]
        except TemplateError as exc:  # MissingPath included
            self.problems.append(FieldProblem(path, str(exc)))
            return text
        pairs = list(zip(values, parts, strict=True))
        templates = [value for value, part in pairs if isinstance(part, TemplatePath)]
        literal = "".join(part for part in parts if isinstance(part, str))
        if len(templates) == 1 and not literal.strip():
            return templates[0]  # one template alone keeps the value's type, as at run time
        return "".join(
            value if isinstance(part, str) else value_as_text(value) for value, part in pairs
        )

    def resolve(self, part: TemplatePath) -> Any:
        segments = part.segments
        if (
            not self.steps_known
            and len(segments) > 1
            and segments[0] == "steps"
            and segments[1].isdigit()
            and len(segments[1]) <= 4
            and int(segments[1]) < self.index
        ):
            # An earlier step's result exists only once that step has really run.
            self.deferred.append(part.path)
            return "{{ " + part.path + " }}"
        return resolve_path(self.context, part.path)


def _secrets(value: Any) -> list[str]:
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.extend(_SECRET_REF.findall(item))
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return sorted(set(found))


def _webhook_request(fields: dict[str, Any], index: int) -> HttpRequest:
    """The request as ``send_webhook`` would build it, with the headers it adds."""
    method = str(fields.get("method") or "POST").upper()
    added = {"user-agent", "idempotency-key"}
    headers = {
        str(k): str(v) for k, v in (fields.get("headers") or {}).items() if k.lower() not in added
    }
    headers["User-Agent"] = USER_AGENT
    headers["Idempotency-Key"] = f"{DRY_RUN_ID}:{index}"
    body = fields.get("body")
    if method in _BODYLESS_METHODS:
        body = None
    if body is not None and "content-type" not in {k.lower() for k in headers}:
        headers["Content-Type"] = "application/json"
    return HttpRequest(method, str(fields.get("url")), headers, body)


def preview_action(
    spec: Action, index: int, context: Mapping[str, Any], *, steps_known: bool = False
) -> ActionPreview:
    """One action's rendered fields, problems by path, deferred paths and secret names.

    ``steps_known``: ``context["steps"]`` holds the results the earlier steps stored (a
    run diff, a replay), so templates into them are rendered rather than deferred.
    """
    renderer = _Renderer(context, index, steps_known)
    model_fields = type(spec).model_fields
    raw = {
        name: getattr(spec, name)
        for name, info in model_fields.items()
        # A required "name" (create_project's) is the record's name, not the step's label.
        if name not in STEP_FIELDS or (name == "name" and info.is_required())
    }
    try:
        fields = {
            name: renderer.value(value, f"actions[{index}].{name}") for name, value in raw.items()
        }
    except RecursionError:
        fields = raw
        renderer.problems.append(FieldProblem(f"actions[{index}]", "nested too deeply"))
    fields = mask_action_fields(spec.type, fields)  # shown, so never a secret in clear
    request = _webhook_request(fields, index) if isinstance(spec, WebhookAction) else None
    return ActionPreview(
        index=index,
        type=spec.type,
        name=None if "name" in raw else spec.name,
        fields=fields,
        problems=tuple(renderer.problems),
        deferred=tuple(dict.fromkeys(renderer.deferred)),
        secrets=tuple(_secrets(raw)),
        request=request,
    )


def dry_run(
    definition: WorkflowDefinition,
    payload: Any,
    *,
    trigger_type: str | None = None,
    workflow_id: str = DRY_RUN_ID,
    version: int = 0,
) -> DryRunResult:
    """Evaluate the conditions and render every action for ``payload``; sends nothing."""
    context = dry_run_context(
        definition, payload, trigger_type=trigger_type, workflow_id=workflow_id, version=version
    )
    lines: list[ConditionLine] = []
    passed = True
    if definition.conditions is not None:
        trace = explain(definition.conditions, context)
        passed = trace.passed
        lines = condition_lines(trace)
    actions = tuple(
        preview_action(spec, index, context) for index, spec in enumerate(definition.actions)
    )
    return DryRunResult(definition.name, passed, tuple(lines), actions, context)
