"""Trigger types of a workflow definition: manual, event, schedule, webhook."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import Discriminator, Field, Tag, field_validator

from engine.definitions.base import StrictModel, tag_by_type, unknown_type_message

_HOOK_PATH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9._-]+)*$")
_EVENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


class ManualTrigger(StrictModel):
    type: Literal["manual"]


class EventTrigger(StrictModel):
    type: Literal["event"]
    event: str = Field(min_length=1, max_length=200)

    @field_validator("event")
    @classmethod
    def _event_name(cls, value: str) -> str:
        if not _EVENT_NAME.match(value):
            raise ValueError("event names use letters, digits and . _ : -")
        return value


class ScheduleTrigger(StrictModel):
    type: Literal["schedule"]
    cron: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="UTC", min_length=1, max_length=100)

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
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name the OS refuses
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class WebhookTrigger(StrictModel):
    type: Literal["webhook"]
    path: str = Field(min_length=1, max_length=200)
    secret: str | None = Field(default=None, min_length=1)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not _HOOK_PATH.match(value):
            raise ValueError("hook paths use letters, digits, '/', '.', '_' and '-'")
        return value


TRIGGER_TYPES = {"manual", "event", "schedule", "webhook"}
Trigger = Annotated[
    Annotated[ManualTrigger, Tag("<manual>")]
    | Annotated[EventTrigger, Tag("<event>")]
    | Annotated[ScheduleTrigger, Tag("<schedule>")]
    | Annotated[WebhookTrigger, Tag("<webhook>")],
    Discriminator(
        tag_by_type(TRIGGER_TYPES),
        custom_error_type="trigger_type",
        custom_error_message=unknown_type_message("trigger", TRIGGER_TYPES),
    ),
]
