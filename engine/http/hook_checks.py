"""The checks of a webhook request that need its hooks but no store: the signature
against each hook's secret, and the body as a storable JSON object."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from engine.definitions.json_values import MAX_VALUE_DEPTH, json_value_problem, nested_deeper_than
from engine.http.hooks import Hook
from engine.http.signature import SignatureError, parse, verify
from engine.security.env_references import MissingSecret, resolve

log = logging.getLogger("wfconsole.http")


class BadBody(Exception):
    """The body is not a JSON object that can be stored (the message says why)."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, refused when storing it would fail on either backend, or
    when it nests deeper than a definition's values may (MAX_VALUE_DEPTH): the depth is
    counted on the raw bytes first, so no parser recurses into a hostile body."""
    if nested_deeper_than(body, MAX_VALUE_DEPTH):
        raise BadBody(f"body: nested deeper than {MAX_VALUE_DEPTH} levels")
    try:
        data: Any = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadBody("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadBody("body must be a JSON object")
    problem = json_value_problem(data, limit=MAX_VALUE_DEPTH)
    if problem is not None:
        subpath, why = problem
        raise BadBody(f"body{subpath}: {why}")
    return data


def accepted_hooks(
    hooks: list[Hook],
    header: str | None,
    body: bytes,
    *,
    vault: Any,
    now: Callable[[], float],
    tolerance: int,
) -> tuple[list[Hook], list[str]]:
    """Hooks without a secret, plus those whose secret signs this body; and the signatures
    this request spends: when one matched, every ``v1=`` of the header (a sender rotating
    secrets signs with both, and the other one must not stay fresh for another path).
    Raises ``SignatureError`` when no hook accepts the request."""
    accepted, used, reason = [], set(), "signature does not match"
    for hook in hooks:
        if hook.secret is None:
            accepted.append(hook)
            continue
        try:
            used.add(verify(resolve(hook.secret, vault=vault), header, body,
                            now=now(), tolerance=tolerance))  # fmt: skip
        except SignatureError as exc:
            reason = str(exc)
            continue
        except MissingSecret as exc:
            log.error("webhook secret of workflow %s is unavailable: %s", hook.workflow_id, exc)
            continue
        accepted.append(hook)
    if not accepted:
        raise SignatureError(reason)
    if used:
        used.update(parse(header)[1])
    return accepted, sorted(used)
