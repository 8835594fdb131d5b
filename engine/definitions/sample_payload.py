"""A sample trigger payload for a dry run, derived from what the definition reads.

Every ``trigger.…`` path a rule tests gets a value that makes that rule pass (rules under
``not``, and every ``any`` branch but the first, are left out so the sample does not
contradict itself); every other ``trigger.…`` path a template reads gets a placeholder.
It is a starting point for the operator to edit, not a guarantee that the run passes.
"""

from __future__ import annotations

from typing import Any

from engine.definitions.conditions import AllOf, AnyOf, Condition, NotOf, Rule
from engine.definitions.schema import WorkflowDefinition
from engine.definitions.templating import TemplateError, TemplatePath, parse_template

_NOTHING = object()


def _passing_value(rule: Rule) -> Any:
    """A value that makes ``rule`` pass, or ``_NOTHING`` when no single value says much."""
    op, value = rule.op, rule.value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if op in ("eq", "gte", "lte"):
        return value
    if op == "gt":
        return value + 1 if number else f"{value}z"
    if op == "lt":
        return value - 1 if number else _NOTHING
    if op == "in":
        return value[0] if value else _NOTHING
    if op == "contains":
        return [value] if not isinstance(value, str) else value
    if op == "exists" and value is not False:
        return True
    return _NOTHING


def _condition_values(condition: Condition | None) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    stack: list[Condition] = [condition] if condition is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, Rule):
            value = _passing_value(node)
            if value is not _NOTHING:
                found.append((node.path, value))
        elif isinstance(node, AllOf):
            stack.extend(reversed(node.all_))
        elif isinstance(node, AnyOf):
            stack.append(node.any_[0])
        elif isinstance(node, NotOf):
            continue
    return found


def _template_paths(value: Any) -> list[str]:
    paths: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and "{{" in item:
            try:
                parts = parse_template(item)
            except TemplateError:
                continue
            paths.extend(part.path for part in parts if isinstance(part, TemplatePath))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return paths


def _place(payload: dict[str, Any], path: str, value: Any, *, overwrite: bool) -> None:
    segments = path.split(".")
    if segments[0] != "trigger" or len(segments) < 2 or any(s.isdigit() for s in segments):
        return
    node = payload
    for segment in segments[1:-1]:
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            return
        node = child
    if overwrite or segments[-1] not in node:
        node[segments[-1]] = value


def sample_payload(definition: WorkflowDefinition) -> dict[str, Any]:
    """A trigger payload that passes the conditions and fills every template it can."""
    payload: dict[str, Any] = {}
    for path, value in _condition_values(definition.conditions):
        _place(payload, path, value, overwrite=False)
    for action in definition.actions:
        for path in _template_paths(action.model_dump(mode="json")):
            _place(payload, path, f"<{path.rsplit('.', 1)[-1]}>", overwrite=False)
    return payload
