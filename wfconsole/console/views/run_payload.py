"""The trigger data typed into the "run now" dialog, checked before anything runs."""

from __future__ import annotations

import json
from typing import Any

MAX_PAYLOAD_BYTES = 1024 * 1024


def parse_payload(text: str) -> dict[str, Any]:
    """The trigger data typed into the dialog; ValueError says what is wrong with it."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_PAYLOAD_BYTES:
        raise ValueError("the payload is larger than 1 MiB")
    if not text.strip():
        return {}
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise ValueError("not accepted: nested too deeply") from None
    if not isinstance(payload, dict):
        kind = "an array" if isinstance(payload, list) else type(payload).__name__
        raise ValueError(f"the payload must be a JSON object, not {kind}")
    return payload
