"""The rows of one demo execution: its steps, logs and timestamps, built from a plan.

Built for speed (a million executions in seconds): payloads, results and messages are
drawn from pools made once per workflow, and timestamps are formatted as text directly.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any

from engine.db import Database
from engine.demo_workflows import PAYLOAD_SAMPLERS, RUN_WEIGHTS, action_profile, demo_documents

Row = tuple[Any, ...]
Line = tuple[str, str, int | None, int]  # level, message, step index, micros
_LEVEL_RANK = {"ERROR": 0, "WARNING": 1, "INFO": 2, "DEBUG": 3}
_WORKERS = ("worker-1", "worker-2", "worker-3", "worker-4")
_POOL = 64


class Clock:
    """Formats microsecond timestamps as text the database reads back as UTC."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix  # "+00" for TIMESTAMPTZ; SQLite keeps naive UTC text
        self.seconds: dict[int, str] = {}

    def text(self, micros: int) -> str:
        """'2026-11-25 20:30:21.027880' plus the suffix: what SQLAlchemy stores on SQLite."""
        sec, frac = divmod(micros, 1_000_000)
        prefix = self.seconds.get(sec)
        if prefix is None:
            prefix = self.seconds[sec] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec))
        return f"{prefix}.{frac:06d}{self.suffix}"


@dataclass(frozen=True)
class Step:
    """One action of a plan: what its step row and success log line say."""

    kind: str
    result: str  # JSON
    summary: str
    low_ms: float
    span_ms: float


@dataclass
class WorkflowPlan:
    """One stored sample workflow as the generator needs it."""

    workflow_id: str
    version: int
    enabled: bool
    weight: float
    max_retries: int
    retry_delay: int
    triggers: list[tuple[str, str]]  # (trigger type, "started by ..." log line)
    steps: list[Step]
    failures: list[tuple[int, str, bool]]  # (step index, error, transient)
    permanent_failures: list[tuple[int, str, bool]]  # the ones never retried
    run_payloads: list[str]
    skip_payloads: list[tuple[str, str]]  # (payload JSON, why it was skipped)
    checks: str | None  # the "conditions passed" debug line

    def execution(
        self,
        execution_id: str,
        status: str,
        created: int,
        horizon: int,
        rng: random.Random,
        clock: Clock,
        steps: list[Row],
        logs: list[Row],
    ) -> tuple[Row, int, float | None]:
        """The execution row (steps and logs appended to the lists), its end and duration."""
        text = clock.text
        trigger, started_line = self.triggers[int(rng.random() * len(self.triggers))]
        if status == "CANCELLED" and rng.random() < 0.5:
            return self._cancelled_while_queued(execution_id, trigger, created, rng, clock, logs)
        if status == "SKIPPED":
            payload, why = self.skip_payloads[int(rng.random() * len(self.skip_payloads))]
        else:
            payload = self.run_payloads[int(rng.random() * len(self.run_payloads))]
        first_start = start = created + 20_000 + int(rng.random() ** 3 * 3_000_000)
        retries, fail_at, error, n_steps = 0, -1, None, len(self.steps)
        # Retries wait retry_delay * 2^n; runs too recent for that fail or succeed at once.
        can_retry = created + self.retry_delay * 2**self.max_retries * 1_000_000 < horizon
        if status == "FAILED":
            failures = self.failures if can_retry else self.permanent_failures
            fail_at, error, transient = failures[int(rng.random() * len(failures))]
            retries = self.max_retries if transient else 0
            n_steps = fail_at + 1
        elif status == "SUCCESS" and can_retry:
            retries = 1 if rng.random() < 0.05 else 0
        elif status == "CANCELLED":
            n_steps = int(rng.random() * len(self.steps))
        elif status == "SKIPPED":
            n_steps = 0
        at = start
        lines: list[Line] = []
        if status == "SKIPPED":
            at += 1_000 + int(rng.random() * 12_000)
            lines.append(("INFO", f"skipped: {why}", None, at))
        elif self.checks:
            lines.append(("DEBUG", self.checks, None, start + 900))
        for index in range(n_steps):
            step = self.steps[index]
            attempt = retries if index == n_steps - 1 else 0
            if attempt:
                reason = error or "connection timed out after 30.0s"
                message = f"step {index} {step.kind} failed, retry in {self.retry_delay}s: {reason}"
                lines.append(("WARNING", message, index, at))
                at += self.retry_delay * (2**attempt - 1) * 1_000_000
                start = at  # the last attempt's claim is what started_at shows
            millis = step.low_ms + rng.random() * step.span_ms
            step_start, at = at, at + int(millis * 1000)
            if index == fail_at:
                steps.append(
                    (execution_id, index, step.kind, "FAILED", None, error, attempt,
                     text(step_start), text(at), round(millis, 3))
                )  # fmt: skip
                lines.append(("ERROR", f"step {index} {step.kind} failed: {error}", index, at))
            else:
                steps.append(
                    (execution_id, index, step.kind, "SUCCESS", step.result, None, attempt,
                     text(step_start), text(at), round(millis, 3))
                )  # fmt: skip
                lines.append(("INFO", f"step {index} {step.kind}: {step.summary}", index, at))
        end = at + 300 + int(rng.random() * 3_000)
        duration = round((end - start) / 1000, 3)
        result = None
        if status == "SUCCESS":
            result = f'{{"steps_completed": {n_steps}}}'
            lines.append(("INFO", f"finished in {duration:.0f} ms", None, end))
        elif status == "FAILED":
            lines.append(("ERROR", f"failed after {retries} retries: {error}", None, end))
        elif status == "CANCELLED":
            message = f"cancelled after {n_steps} of {len(self.steps)} steps"
            lines.append(("WARNING", message, None, end))
        logs.append((execution_id, "INFO", started_line, None, None, text(first_start)))
        for level, message, step_index, when in _trimmed(lines, 2 + int(rng.random() * 4)):
            logs.append((execution_id, level, message, None, step_index, text(when)))
        row = (
            execution_id, self.workflow_id, self.version, status, trigger, payload, result,
            error, text(created), text(start), text(end), duration, retries,
            text(start - 10_000), _WORKERS[created % 4], fail_at if fail_at >= 0 else n_steps,
            status == "CANCELLED", 0,
        )  # fmt: skip
        return row, end, duration

    def _cancelled_while_queued(
        self,
        execution_id: str,
        trigger: str,
        created: int,
        rng: random.Random,
        clock: Clock,
        logs: list[Row],
    ) -> tuple[Row, int, float | None]:
        payload = self.run_payloads[int(rng.random() * len(self.run_payloads))]
        end = created + 5_000_000 + int(rng.random() * 120_000_000)
        queued, cancelled = clock.text(created), clock.text(end)
        logs.append((execution_id, "INFO", f"queued by {trigger} trigger", None, None, queued))
        logs.append((execution_id, "WARNING", "cancelled before it started", None, None, cancelled))
        row = (
            execution_id, self.workflow_id, self.version, "CANCELLED", trigger, payload, None,
            None, queued, None, cancelled, None, 0, queued, None, 0, True, 0,
        )  # fmt: skip
        return row, end, None


def _trimmed(lines: list[Line], total: int) -> list[Line]:
    """At most ``total - 1`` lines (the start line makes ``total``): the last one always,
    then the most severe, in time order."""
    if len(lines) <= total - 1:
        return lines
    middle = sorted(lines[:-1], key=lambda line: _LEVEL_RANK[line[0]])[: total - 2]
    return [*sorted(middle, key=lambda line: line[3]), lines[-1]]


def build_plans(db: Database, rng: random.Random) -> list[WorkflowPlan]:
    """Plans for the stored sample workflows, their payload pools drawn from ``rng``."""
    from sqlmodel import col, select

    from engine.models import Workflow

    documents = {doc["name"]: doc for doc in demo_documents()}
    with db.read_session() as session:
        stored = session.exec(
            select(Workflow.id, Workflow.name, Workflow.version)
            .where(col(Workflow.name).in_(list(documents)))
            .order_by(col(Workflow.name))
        ).all()
    return [
        _plan(workflow_id, version, documents[name], rng) for workflow_id, name, version in stored
    ]


def _plan(workflow_id: str, version: int, doc: dict[str, Any], rng: random.Random) -> WorkflowPlan:
    from engine.conditions import evaluate, explain, parse_condition

    condition = parse_condition(doc["conditions"]) if doc["conditions"] else None
    runs: list[str] = []
    skips: list[tuple[str, str]] = []
    for _ in range(_POOL * 6):
        payload = PAYLOAD_SAMPLERS[doc["name"]](rng)
        if condition is None or evaluate(condition, {"trigger": payload}):
            runs.append(json.dumps(payload))
        else:
            why = _first_failure(explain(condition, {"trigger": payload}))
            skips.append((json.dumps(payload), f"conditions not met: {why}"))
    steps: list[Step] = []
    failures: list[tuple[int, str, bool]] = []
    for index, action in enumerate(doc["actions"]):
        profile = action_profile(action)
        low, high = profile.millis
        steps.append(
            Step(action["type"], json.dumps(profile.result), profile.summary, low, high - low)
        )
        if not action.get("continue_on_error"):
            failures.extend((index, error, transient) for error, transient in profile.errors)
    return WorkflowPlan(
        workflow_id=workflow_id,
        version=version,
        enabled=doc["enabled"],
        weight=RUN_WEIGHTS[doc["name"]],
        max_retries=doc["max_retries"],
        retry_delay=doc["retry_delay"],
        triggers=[(t["type"], _started_line(t)) for t in doc["triggers"]],
        steps=steps,
        failures=failures,
        permanent_failures=[f for f in failures if not f[2]],
        run_payloads=runs[:_POOL],
        skip_payloads=skips[:_POOL],
        checks=f"conditions passed: {json.dumps(doc['conditions'])[:160]}" if condition else None,
    )


def _started_line(trigger: dict[str, Any]) -> str:
    detail = trigger.get("event") or trigger.get("path") or trigger.get("cron") or ""
    return f"started by {trigger['type']} trigger {detail}".rstrip()


def _first_failure(trace: Any) -> str:
    """The first failing rule of a condition trace, as text."""
    pending = [trace]
    while pending:
        node = pending.pop(0)
        if node.kind == "rule" and not node.passed:
            return str(node.text)
        pending[:0] = list(node.children)
    return str(trace.text)
