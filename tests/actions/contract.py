"""The action contract: what every action type must satisfy, and how a type joins the suite.

To add an action type, write one case module (e.g. ``tests/actions/sms_case.py``) and add
its class to ``CASES`` in ``tests/actions/cases.py``::

    class SmsCase(ActionCase):
        action_type = "sms"  # the type its runner is registered under with @action
        # failure name -> the `transient` flag the ActionError must carry
        failures = {"unsubscribed": False, "rate_limited": True, "server_error": True}
        hang_transient = False  # the flag for a peer that never answers; None = no peer

        def stage(self, behaviour: str, stack: ExitStack) -> Staged:
            # `behaviour` is "success", "hang" or one key of `failures`. Start a real
            # peer on loopback that behaves so (stack.enter_context(...) stops it after
            # the test), put CANARY where the action's secret goes (config, header, env
            # var), and return the rendered fields the runner gets plus config overrides.
            return Staged(fields={"to": "+15550100", "body": "hi"},
                          config={"twilio": {"auth_token": CANARY, ...}})

The suite (``test_contract.py``) runs every case through each behaviour and checks:

- success: the runner returns an ``ActionOutput`` whose ``data`` survives ``json.dumps``
  and whose ``summary`` is a non-empty single line;
- each failure: the runner raises ``ActionError`` (nothing else) with ``transient`` as
  declared in ``failures``;
- hang: with ``HANG_BUDGET`` seconds left before the workflow deadline, the runner ends
  with ``ActionError(transient=hang_transient)`` within that budget plus ``HANG_MARGIN``;
- always: ``CANARY`` appears nowhere in the output data or summary, the error's message,
  repr, data or exception chain, any log record (captured at DEBUG) or stdout/stderr;
- the registry has no runner without a case here.

The step runs with ``execution_id="exec-contract"``, ``step_index=0`` (so
``ctx.idempotency_key == "exec-contract:0"``) on a migrated SQLite database (``ctx.db``).
``config`` is merged into the default settings on top of
``security.allow_private_targets = true`` (peers live on loopback).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.config import Settings

CANARY = "wf-canary-5e1f9a73c2"
SUCCESS = "success"
HANG = "hang"
HANG_BUDGET = 1.0
HANG_MARGIN = 0.75


@dataclass
class Staged:
    """A peer ready for one behaviour: the runner's fields and the settings pointing at it."""

    fields: dict[str, Any]
    config: dict[str, dict[str, Any]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


class ActionCase:
    """One action type as the contract suite drives it; subclass it per action type."""

    action_type: ClassVar[str]
    failures: ClassVar[dict[str, bool]] = {}
    hang_transient: ClassVar[bool | None] = True

    def stage(self, behaviour: str, stack: ExitStack) -> Staged:
        """Start a peer behaving as `behaviour`; return the fields and config to use."""
        raise NotImplementedError

    def behaviours(self) -> list[str]:
        """Every behaviour this case can stage."""
        hang = [HANG] if self.hang_transient is not None else []
        return [SUCCESS, *self.failures, *hang]


def settings_for(staged: Staged) -> Settings:
    """Default settings with loopback allowed and the case's overrides merged in."""
    config: dict[str, dict[str, Any]] = {"security": {"allow_private_targets": True}}
    for section, values in staged.config.items():
        config.setdefault(section, {}).update(values)
    return Settings.model_validate(config)
