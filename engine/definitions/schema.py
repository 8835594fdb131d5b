"""The workflow definition schema: one pydantic model validates files, the editor and the API.

Errors name the JSON path (``actions[2].url: invalid URL``). Conditions and templates
are data (see ``engine.definitions.conditions`` and ``engine.definitions.templating``);
nothing here runs code.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.definitions.actions import (
    ACTION_TYPES,
    Action,
    CreateInvoiceAction,
    CreateProjectAction,
    CreateTaskAction,
    EmailAction,
    SlackAction,
    SmsAction,
    TeamsAction,
    WebhookAction,
)
from engine.definitions.base import StrictModel
from engine.definitions.conditions import Condition, check_condition_depth
from engine.definitions.durations import parse_rate
from engine.definitions.json_values import json_value_problem
from engine.definitions.triggers import (
    TRIGGER_TYPES,
    EventTrigger,
    ManualTrigger,
    ScheduleTrigger,
    Trigger,
    WebhookTrigger,
)

MAX_DEFINITION_BYTES = 1024 * 1024


class DefinitionError(ValueError):
    """A definition was refused; ``errors`` holds (json path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]], *, index: int | None = None) -> None:
        self.errors = errors
        self.index = index  # which of several definitions saved together, when known
        super().__init__(self.first_line)

    @property
    def first_line(self) -> str:
        """The first error as ``path: message``; more are counted, not listed."""
        path, message = self.errors[0]
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        return f"{path}: {message}{more}" if path else f"{message}{more}"


class WorkflowDefinition(StrictModel):
    """A whole workflow as stored, imported and exported."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    enabled: bool = True
    category: str | None = Field(default=None, max_length=100)
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list)
    priority: int = Field(default=5, ge=0, le=10)
    max_retries: int = Field(default=3, ge=0, le=100)
    retry_delay: int = Field(default=60, ge=0, le=86_400)
    timeout: int = Field(default=300, gt=0, le=86_400)
    triggers: list[Trigger] = Field(min_length=1)
    conditions: Condition | None = None
    actions: list[Action] = Field(min_length=1, max_length=100)
    max_concurrent: StrictInt | None = Field(default=None, ge=1, le=100_000)
    """At most this many runs of the workflow at once (across every worker)."""
    rate_limit: str | None = Field(default=None, max_length=16)
    """At most N runs started per second or minute: ``N/s`` or ``N/m``."""

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rate(value)  # ValueError: pydantic names the field
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value != value.strip() or any(ord(ch) < 32 for ch in value):
            raise ValueError("name must not start or end with spaces or hold control characters")
        return value

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        # NUL, lone surrogates and NaN anywhere (names, texts, secrets) would only fail
        # later, when PostgreSQL refuses to store them; depth is bounded per value below.
        problem = json_value_problem(data, limit=None)
        if problem is not None and problem[0]:
            subpath, why = problem
            raise ValueError(f"{subpath.removeprefix('.')}: {why}")
        # A bad top-level key (no path of its own) is an unknown field: pydantic names it.
        return data

    @model_validator(mode="before")
    @classmethod
    def _bounded_conditions(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("conditions") is not None:
            try:
                check_condition_depth(data["conditions"])
            except ValueError as exc:
                # A model-level error has no location; name the field in the message.
                raise ValueError(f"conditions: {exc}") from None
        return data

    @model_validator(mode="after")
    def _unique_hooks(self) -> WorkflowDefinition:
        seen: set[str] = set()
        for index, trigger in enumerate(self.triggers):
            if isinstance(trigger, WebhookTrigger):
                if trigger.path in seen:
                    raise ValueError(
                        f"triggers[{index}].path: webhook path {trigger.path!r} appears twice"
                    )
                seen.add(trigger.path)
        return self

    def to_document(self) -> dict[str, Any]:
        """The definition as JSON data: top-level fields always, nested ones as given."""
        document: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "enabled": self.enabled,
            "category": self.category,
            "tags": list(self.tags),
            "priority": self.priority,
            "max_retries": self.max_retries,
            "retry_delay": self.retry_delay,
            "timeout": self.timeout,
        }
        document["triggers"] = [_dump(t) for t in self.triggers]
        document["conditions"] = _dump(self.conditions) if self.conditions is not None else None
        document["actions"] = [_dump(a) for a in self.actions]
        for limit in ("max_concurrent", "rate_limit"):  # only when set: older exports stay
            if getattr(self, limit) is not None:
                document[limit] = getattr(self, limit)
        return document


def _dump(model: BaseModel) -> dict[str, Any]:
    dumped = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if "type" in dumped:  # readers expect the type first
        dumped = {"type": dumped.pop("type"), **dumped}
    return dumped


_KEY_SHOWN_MAX = 60
_PLAIN_KEY = re.compile(r"[^\s.\[\]'\"]+")


def _shown_key(key: str) -> str:
    """A key as it appears in a path: quoted (and cut short) unless it is plain, so a key
    holding dots, brackets, spaces or control characters cannot blur or break the path."""
    if _PLAIN_KEY.fullmatch(key) and len(key) <= _KEY_SHOWN_MAX:
        return key
    return repr(key if len(key) <= _KEY_SHOWN_MAX else key[: _KEY_SHOWN_MAX - 1] + "…")


_UNION_TAGS = frozenset(
    f"<{kind}>" for kind in (*ACTION_TYPES, *TRIGGER_TYPES, "rule", "all", "any", "not")
)


def _format_loc(loc: tuple[str | int, ...]) -> str:
    path = ""
    for position, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif position and part in _UNION_TAGS:
            continue  # a union tag, not part of the document's path (a key "<x>" may be)
        else:
            path += f".{_shown_key(part)}" if path else _shown_key(part)
    return path


def _message(error: Any) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required"
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        # A model validator may name a sub-field itself: "to[0]: ...".
        return message
    if kind in ("too_short",) and isinstance(error.get("input"), list):
        return "must not be empty"
    return message


def errors_from_validation(exc: ValidationError) -> list[tuple[str, str]]:
    """Pydantic errors as (json path, message), in document order."""
    result = []
    for error in exc.errors():
        path, message = _format_loc(tuple(error["loc"])), _message(error)
        head, sep, rest = message.partition(": ")
        if error["type"] == "value_error" and sep and re.fullmatch(r"[A-Za-z_][\w.\[\]-]*", head):
            path, message = f"{path}.{head}" if path else head, rest
        elif error["type"] in ("action_type", "trigger_type"):
            path = f"{path}.type"
        result.append((path, message))
    return result


def validate_definition(data: Any) -> WorkflowDefinition:
    """Validate parsed JSON/YAML data; raises DefinitionError naming the path."""
    if not isinstance(data, dict):
        kind = "an array" if isinstance(data, list) else type(data).__name__
        raise DefinitionError([("", f"a workflow definition must be a JSON object, not {kind}")])
    try:
        return WorkflowDefinition.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(errors_from_validation(exc)) from None
    except RecursionError:
        raise DefinitionError([("conditions", "nested too deeply")]) from None


class _NotJsonNumber(ValueError):
    """NaN or Infinity in JSON text: Python reads them, JSON (and PostgreSQL) does not."""


def _refuse_constant(name: str) -> Any:
    raise _NotJsonNumber(f"{name} is not a JSON number")


def _number_problem(exc: ValueError) -> str:
    if isinstance(exc, _NotJsonNumber):
        return str(exc)
    return "a number is too long"


def parse_definition_text(text: str, *, yaml_allowed: bool = False) -> Any:
    """Parse a definition file's text (JSON, or YAML when allowed) into data."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DEFINITION_BYTES:
        raise DefinitionError([("", "definition is larger than 1 MiB")])
    if not text.strip():
        raise DefinitionError([("", "empty file")])
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise DefinitionError([("", "not accepted: nested too deeply")]) from None
    except json.JSONDecodeError as exc:
        if not yaml_allowed:
            raise DefinitionError(
                [("", f"not valid JSON: {exc.msg} at line {exc.lineno}")]
            ) from None
        json_error = exc
    except ValueError as exc:  # NaN/Infinity, or an integer past Python's digit limit
        raise DefinitionError([("", f"not valid JSON: {_number_problem(exc)}")]) from None
    import yaml

    try:
        data = yaml.safe_load(text)
    except ValueError:  # an integer past Python's digit limit
        raise DefinitionError([("", "not valid YAML: a number is too long")]) from None
    except RecursionError:
        raise DefinitionError([("", "not accepted: nested too deeply")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise DefinitionError(
            [("", f"neither valid JSON ({json_error.msg}) nor valid YAML{where}")]
        ) from None
    if not isinstance(data, (dict, list)):
        raise DefinitionError([("", "not valid JSON or YAML: expected an object")])
    return data


def load_definition_text(text: str, *, yaml_allowed: bool = False) -> WorkflowDefinition:
    """Parse and validate a definition file's text."""
    return validate_definition(parse_definition_text(text, yaml_allowed=yaml_allowed))


__all__ = [
    "ACTION_TYPES",
    "MAX_DEFINITION_BYTES",
    "TRIGGER_TYPES",
    "Action",
    "CreateInvoiceAction",
    "CreateProjectAction",
    "CreateTaskAction",
    "DefinitionError",
    "EmailAction",
    "EventTrigger",
    "ManualTrigger",
    "ScheduleTrigger",
    "SlackAction",
    "SmsAction",
    "TeamsAction",
    "Trigger",
    "WebhookAction",
    "WebhookTrigger",
    "WorkflowDefinition",
    "errors_from_validation",
    "load_definition_text",
    "parse_definition_text",
    "validate_definition",
]
