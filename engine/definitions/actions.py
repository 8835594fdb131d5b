"""Action types of a workflow definition, each with the fields it sends."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from engine.definitions.base import StrictModel, tag_by_type, unknown_type_message
from engine.definitions.json_values import json_value_problem
from engine.definitions.templating import find_template_errors

_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,200}")  # an RFC 9110 token
# RFC 5321's limit; also keeps _EMAIL (which backtracks on long dotted text) fast.
_MAX_ADDRESS = 254
_SHOWN_MAX = 60


def _shown(value: str) -> str:
    """A value quoted in an error message, cut short: a hostile one could be huge."""
    return repr(value if len(value) <= _SHOWN_MAX else value[: _SHOWN_MAX - 1] + "…")


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
    try:
        if "{{" not in value:
            parts.port  # noqa: B018 - reading the port checks its digits and range
    except ValueError:
        raise ValueError("invalid URL: bad port") from None
    return value


def _check_address(value: str) -> str:
    if "{{" in value or _ENV_REF.match(value):
        return value
    if len(value) <= _MAX_ADDRESS and _EMAIL.match(value):
        return value
    raise ValueError(f"invalid email address {_shown(value)}")


class _Action(StrictModel):
    name: str | None = Field(default=None, max_length=200)
    continue_on_error: bool = False
    emit_event: str | None = Field(default=None, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _bounded_values(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for field_name in cls.model_fields:
                problem = json_value_problem(data.get(field_name))
                if problem is not None:
                    subpath, why = problem
                    raise ValueError(f"{field_name}{subpath}: {why}")
        return data

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
        raise ValueError(f"invalid phone number {_shown(value)} (use E.164, e.g. +15550100)")


class TeamsAction(_Action):
    type: Literal["teams"]
    title: str | None = None
    text: str = Field(min_length=1)
    webhook_url: str | None = None
    theme_color: str | None = None
    # "message" = legacy MessageCard (Office 365 connectors); "adaptive" = Adaptive Card
    # (Teams workflow webhooks, which no longer accept MessageCards).
    card: Literal["message", "adaptive"] = "message"


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

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"invalid header name {_shown(name)}")
            if any(ch in value for ch in "\r\n\x00"):
                raise ValueError(f"header {_shown(name)} holds a line break or NUL")
        return headers


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
        tag_by_type(ACTION_TYPES),
        custom_error_type="action_type",
        custom_error_message=unknown_type_message("action", ACTION_TYPES),
    ),
]
