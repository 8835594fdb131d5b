"""Declarative workflow conditions: JSON rules combined with all/any/not, evaluated as data.

A condition is ``{"path": "trigger.amount", "op": "gt", "value": 1000}`` or
``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}``. Nothing is ever executed.

Size bounds: every node's ``model_validator(mode="before")`` runs check_condition_depth on
the raw input before pydantic descends into it, so a hostile structure (too deep, or a
YAML alias bomb) is refused by the outermost node without recursion. Callers may also run
check_condition_depth themselves as a pre-pass; it is cheap and idempotent.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Final, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from engine.definitions.json_values import json_value_problem
from engine.definitions.templating import MISSING, lookup, parse_path

MAX_DEPTH: Final = 32
MAX_NODES: Final = 1000

Op: TypeAlias = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists"]
Kind: TypeAlias = Literal["rule", "all", "any", "not"]

_ORDERED: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def check_condition_depth(raw: Any) -> None:
    """Raise ValueError when raw condition JSON nests past MAX_DEPTH or exceeds MAX_NODES."""
    stack: list[tuple[Any, int]] = [(raw, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict):
            continue
        if depth > MAX_DEPTH:
            raise ValueError(f"conditions are nested deeper than {MAX_DEPTH} levels")
        nodes += 1
        if nodes > MAX_NODES:
            raise ValueError(f"conditions have more than {MAX_NODES} nodes")
        for key in ("all", "any"):
            children = node.get(key)
            if isinstance(children, list):
                stack.extend((child, depth + 1) for child in children)
        if "not" in node:
            stack.append((node["not"], depth + 1))


class _ConditionNode(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: ClassVar[Kind]

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        check_condition_depth(data)
        return data


class Rule(_ConditionNode):
    """Compare the value at ``path`` with ``value`` using ``op``."""

    kind: ClassVar[Kind] = "rule"

    path: str
    op: Op
    value: Any = Field(default=None, validate_default=True)

    @field_validator("path")
    @classmethod
    def _plain_path(cls, path: str) -> str:
        parse_path(path)  # its TemplateError is a ValueError, reported at "path"
        return path

    @field_validator("value")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        problem = json_value_problem(value)
        if problem is not None:
            subpath, why = problem
            raise ValueError(f"value{subpath}: {why}")
        if op in ("in", "not_in") and not isinstance(value, list):
            raise ValueError(f"op {op!r} needs a list value")
        if op in _ORDERED and not (_is_number(value) or isinstance(value, str)):
            raise ValueError(f"op {op!r} needs a number or string value")
        if op == "exists" and value is not None and not isinstance(value, bool):
            raise ValueError("op 'exists' takes true or false (default true)")
        return value


class AllOf(_ConditionNode):
    """Passes when every condition passes."""

    kind: ClassVar[Kind] = "all"

    all_: list[Condition] = Field(alias="all")

    @field_validator("all_")
    @classmethod
    def _not_empty(cls, items: list[Condition]) -> list[Condition]:
        if not items:
            raise ValueError("'all' needs at least one condition")
        return items


class AnyOf(_ConditionNode):
    """Passes when at least one condition passes."""

    kind: ClassVar[Kind] = "any"

    any_: list[Condition] = Field(alias="any")

    @field_validator("any_")
    @classmethod
    def _not_empty(cls, items: list[Condition]) -> list[Condition]:
        if not items:
            raise ValueError("'any' needs at least one condition")
        return items


class NotOf(_ConditionNode):
    """Passes when its condition fails."""

    kind: ClassVar[Kind] = "not"

    not_: Condition = Field(alias="not")


def _condition_tag(raw: Any) -> str | None:
    if isinstance(raw, dict):
        for key in ("all", "any", "not"):
            if key in raw:
                return f"<{key}>"
        return "<rule>"
    if isinstance(raw, _ConditionNode):
        return f"<{raw.kind}>"
    return None


Condition: TypeAlias = Annotated[
    Annotated[Rule, Tag("<rule>")]
    | Annotated[AllOf, Tag("<all>")]
    | Annotated[AnyOf, Tag("<any>")]
    | Annotated[NotOf, Tag("<not>")],
    Discriminator(
        _condition_tag,
        custom_error_type="invalid_condition",
        custom_error_message="expected a condition object with 'path'/'op', 'all', 'any' or 'not'",
    ),
]

for _model in (AllOf, AnyOf, NotOf):
    _model.model_rebuild()

# Error text leaves the input out: pydantic reprs the whole input first, which never ends
# for an alias bomb and could echo trigger data. ``errors()`` still carries each input.
_ADAPTER: TypeAdapter[Condition] = TypeAdapter(
    Condition, config=ConfigDict(hide_input_in_errors=True)
)


def parse_condition(raw: Any) -> Condition:
    """Validate raw condition JSON into a Condition; raises pydantic's ValidationError."""
    return _ADAPTER.validate_python(raw)


def condition_to_json(condition: Condition) -> dict[str, Any]:
    """The condition as JSON data in the same shape it was written in."""
    return condition.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(left: Any, right: Any) -> bool:
    """JSON equality: like ==, except a boolean never equals a number (True != 1)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(v, right[k]) for k, v in left.items())
    return bool(left == right)


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    if isinstance(actual, list):
        return any(_same(item, expected) for item in actual)
    if isinstance(actual, Mapping):
        return isinstance(expected, str) and expected in actual
    return False


def _rule_passes(rule: Rule, actual: Any) -> bool:
    op, expected = rule.op, rule.value
    if op == "exists":
        return (actual is not MISSING) is (expected is not False)
    if actual is MISSING:
        return False
    if op == "eq":
        return _same(actual, expected)
    if op == "ne":
        return not _same(actual, expected)
    if op == "in":
        return any(_same(actual, item) for item in expected)
    if op == "not_in":
        return not any(_same(actual, item) for item in expected)
    if op == "contains":
        return _contains(actual, expected)
    if (_is_number(actual) and _is_number(expected)) or (
        isinstance(actual, str) and isinstance(expected, str)
    ):
        return _ORDERED[op](actual, expected)
    return False


def evaluate(condition: Condition, context: Mapping[str, Any]) -> bool:
    """Whether the condition holds for the context; a missing path fails its rule."""
    if isinstance(condition, Rule):
        return _rule_passes(condition, lookup(context, condition.path))
    if isinstance(condition, AllOf):
        return all(evaluate(child, context) for child in condition.all_)
    if isinstance(condition, AnyOf):
        return any(evaluate(child, context) for child in condition.any_)
    return not evaluate(condition.not_, context)


@dataclass(frozen=True, slots=True)
class ConditionTrace:
    """One node of a dry run: what was tested, the value found (or MISSING), and the verdict."""

    kind: Kind
    text: str
    passed: bool
    actual: Any = MISSING
    children: tuple[ConditionTrace, ...] = ()


def rule_text(rule: Rule) -> str:
    """A rule as one readable line, e.g. ``trigger.amount gt 1000``."""
    if rule.op == "exists":
        return f"{rule.path} exists" if rule.value is not False else f"{rule.path} exists false"
    return f"{rule.path} {rule.op} {json.dumps(rule.value, ensure_ascii=False, default=str)}"


def explain(condition: Condition, context: Mapping[str, Any]) -> ConditionTrace:
    """Evaluate every node (no short-circuit) and return the trace tree for a dry-run view."""
    if isinstance(condition, Rule):
        actual = lookup(context, condition.path)
        return ConditionTrace("rule", rule_text(condition), _rule_passes(condition, actual), actual)
    if isinstance(condition, AllOf):
        children = tuple(explain(child, context) for child in condition.all_)
        return ConditionTrace("all", "all", all(c.passed for c in children), children=children)
    if isinstance(condition, AnyOf):
        children = tuple(explain(child, context) for child in condition.any_)
        return ConditionTrace("any", "any", any(c.passed for c in children), children=children)
    child = explain(condition.not_, context)
    return ConditionTrace("not", "not", not child.passed, children=(child,))
