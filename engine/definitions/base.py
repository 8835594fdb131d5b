"""What every part of the definition schema shares: strict models and tagged unions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown fields are errors; inputs are never echoed into error text (a hostile
    document could make that huge)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


def tag_by_type(kinds: set[str]) -> Any:
    """A pydantic discriminator choosing a union member by its ``type`` (tags look like ``<x>``)."""

    def discriminate(value: Any) -> str | None:
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        # Not ``kind in kinds`` alone: a list or object there is unhashable (TypeError).
        return f"<{kind}>" if isinstance(kind, str) and kind in kinds else None

    return discriminate


def unknown_type_message(noun: str, kinds: set[str]) -> str:
    """The error for a missing or unknown ``type``."""
    return f"unknown or missing {noun} type (expected one of {', '.join(sorted(kinds))})"
