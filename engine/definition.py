"""The workflow definition schema: one pydantic model validates files, the editor and the API.

Errors name the JSON path (``actions[2].url: invalid URL``). Conditions and templates
are data (see ``engine.conditions`` and ``engine.templating``); nothing here runs code.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.conditions import Condition, check_condition_depth
from engine.templating import find_template_errors

MAX_DEFINITION_BYTES = 1024 * 1024
_HOOK_PATH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9._-]+)*$")
_EVENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


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


class _Strict(BaseModel):
    # Inputs are never echoed into error text: a hostile document could make that huge.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


# --- triggers ---------------------------------------------------------------------------


class ManualTrigger(_Strict):
    type: Literal["manual"]


class EventTrigger(_Strict):
    type: Literal["event"]
    event: str = Field(min_length=1, max_length=200)

    @field_validator("event")
    @classmethod
    def _event_name(cls, value: str) -> str:
        if not _EVENT_NAME.match(value):
            raise ValueError("event names use letters, digits and . _ : -")
        return value


class ScheduleTrigger(_Strict):
    type: Literal["schedule"]
    cron: str = Field(min_length=1, max_length=200)
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"invalid cron expression {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class WebhookTrigger(_Strict):
    type: Literal["webhook"]
    path: str = Field(min_length=1, max_length=200)
    secret: str | None = Field(default=None, min_length=1)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not _HOOK_PATH.match(value):
            raise ValueError("hook paths use letters, digits, '/', '.', '_' and '-'")
        return value


def _tag_by_type(kinds: set[str]) -> Any:
    def discriminate(value: Any) -> str | None:
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        return f"<{kind}>" if kind in kinds else None

    return discriminate


def _unknown_type(noun: str, kinds: set[str]) -> str:
    return f"unknown or missing {noun} type (expected one of {', '.join(sorted(kinds))})"


TRIGGER_TYPES = {"manual", "event", "schedule", "webhook"}
Trigger = Annotated[
    Annotated[ManualTrigger, Tag("<manual>")]
    | Annotated[EventTrigger, Tag("<event>")]
    | Annotated[ScheduleTrigger, Tag("<schedule>")]
    | Annotated[WebhookTrigger, Tag("<webhook>")],
    Discriminator(
        _tag_by_type(TRIGGER_TYPES),
        custom_error_type="trigger_type",
        custom_error_message=_unknown_type("trigger", TRIGGER_TYPES),
    ),
]


# --- actions ----------------------------------------------------------------------------


def _check_url(value: str) -> str:
    """An http(s) URL with a host; template placeholders may stand in parts of it."""
    probe = re.sub(r"\{\{[^}]*\}\}", "x", value)
    try:
        parts = urlsplit(probe)
    except ValueError:
        raise ValueError("invalid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("invalid URL: only http and https are allowed")
    if not parts.hostname:
        raise ValueError("invalid URL: no host")
    return value


def _check_address(value: str) -> str:
    if "{{" in value or _EMAIL.match(value) or _ENV_REF.match(value):
        return value
    raise ValueError(f"invalid email address {value!r}")


class _Action(_Strict):
    name: str | None = Field(default=None, max_length=200)
    continue_on_error: bool = False
    emit_event: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _templates(self) -> _Action:
        for field_name in type(self).model_fields:
            errors = find_template_errors(getattr(self, field_name))
            if errors:
                subpath, message = errors[0]
                raise ValueError(f"{field_name}{subpath}: {message}")
        return self


class SlackAction(_Action):
    type: Literal["slack"]
    channel: str | None = Field(default=None, min_length=1)
    text: str | None = None
    blocks: list[dict[str, Any]] | None = None
    webhook_url: str | None = None

    @model_validator(mode="after")
    def _content(self) -> SlackAction:
        if not self.text and not self.blocks:
            raise ValueError("slack needs 'text' or 'blocks'")
        return self


class EmailAction(_Action):
    type: Literal["email"]
    to: list[str] = Field(min_length=1)
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)
    subject: str = Field(min_length=1)
    body: str = ""
    html: str | None = None

    _addresses = field_validator("to", "cc", "bcc", mode="after")(
        classmethod(lambda cls, values: [_check_address(v) for v in values])
    )

    @field_validator("to", "cc", "bcc", mode="before")
    @classmethod
    def _one_address(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class SmsAction(_Action):
    type: Literal["sms"]
    to: str = Field(min_length=1)
    body: str = Field(min_length=1, max_length=1600)

    @field_validator("to")
    @classmethod
    def _phone(cls, value: str) -> str:
        if "{{" in value or _PHONE.match(value):
            return value
        raise ValueError(f"invalid phone number {value!r} (use E.164, e.g. +15550100)")


class TeamsAction(_Action):
    type: Literal["teams"]
    title: str | None = None
    text: str = Field(min_length=1)
    webhook_url: str | None = None
    theme_color: str | None = None


class WebhookAction(_Action):
    type: Literal["webhook"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str = Field(min_length=1, max_length=2000)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    timeout: float | None = Field(default=None, gt=0, le=600)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    _url = field_validator("url")(classmethod(lambda cls, value: _check_url(value)))


class CreateTaskAction(_Action):
    type: Literal["create_task"]
    title: str = Field(min_length=1, max_length=500)
    description: str | None = None
    assignee: str | None = None
    due_date: str | None = None
    priority: str | None = None


class CreateProjectAction(_Action):
    type: Literal["create_project"]
    name: str = Field(min_length=1, max_length=500)
    description: str | None = None
    owner: str | None = None


class CreateInvoiceAction(_Action):
    type: Literal["create_invoice"]
    customer: str = Field(min_length=1, max_length=500)
    amount: float | str
    currency: str = "USD"
    due_date: str | None = None
    description: str | None = None

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: float | str) -> float | str:
        if isinstance(value, str) and "{{" not in value:
            raise ValueError("amount must be a number or a template")
        if isinstance(value, float) and value < 0:
            raise ValueError("amount must not be negative")
        return value


ACTION_TYPES = {
    "slack",
    "email",
    "sms",
    "teams",
    "webhook",
    "create_task",
    "create_project",
    "create_invoice",
}
Action = Annotated[
    Annotated[SlackAction, Tag("<slack>")]
    | Annotated[EmailAction, Tag("<email>")]
    | Annotated[SmsAction, Tag("<sms>")]
    | Annotated[TeamsAction, Tag("<teams>")]
    | Annotated[WebhookAction, Tag("<webhook>")]
    | Annotated[CreateTaskAction, Tag("<create_task>")]
    | Annotated[CreateProjectAction, Tag("<create_project>")]
    | Annotated[CreateInvoiceAction, Tag("<create_invoice>")],
    Discriminator(
        _tag_by_type(ACTION_TYPES),
        custom_error_type="action_type",
        custom_error_message=_unknown_type("action", ACTION_TYPES),
    ),
]


# --- the workflow -----------------------------------------------------------------------


class WorkflowDefinition(_Strict):
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

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value != value.strip() or any(ord(ch) < 32 for ch in value):
            raise ValueError("name must not start or end with spaces or hold control characters")
        return value

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
        for trigger in self.triggers:
            if isinstance(trigger, WebhookTrigger):
                if trigger.path in seen:
                    raise ValueError(f"webhook path {trigger.path!r} appears twice")
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
        return document


def _dump(model: BaseModel) -> dict[str, Any]:
    dumped = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if "type" in dumped:  # readers expect the type first
        dumped = {"type": dumped.pop("type"), **dumped}
    return dumped


def _format_loc(loc: tuple[str | int, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith("<") and part.endswith(">"):
            continue  # a union tag, not part of the document's path
        else:
            path += f".{part}" if path else part
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
        if error["type"] == "value_error" and sep and re.match(r"^[A-Za-z_][\w.\[\]]*$", head):
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


def parse_definition_text(text: str, *, yaml_allowed: bool = False) -> Any:
    """Parse a definition file's text (JSON, or YAML when allowed) into data."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DEFINITION_BYTES:
        raise DefinitionError([("", "definition is larger than 1 MiB")])
    if not text.strip():
        raise DefinitionError([("", "empty file")])
    try:
        return json.loads(text)
    except RecursionError:
        raise DefinitionError([("", "not accepted: nested too deeply")]) from None
    except json.JSONDecodeError as exc:
        if not yaml_allowed:
            raise DefinitionError(
                [("", f"not valid JSON: {exc.msg} at line {exc.lineno}")]
            ) from None
        json_error = exc
    import yaml

    try:
        data = yaml.safe_load(text)
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
