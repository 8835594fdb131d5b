"""Shapes of demo executions: one run of a sample workflow, with times relative to its start.

A shape is an execution row with its step and log rows, every timestamp an offset in
microseconds from the moment the execution was created. ``engine.demo.seed`` makes a pool of
shapes per workflow and status, then stamps them out in the database by the million.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from engine.db import Database
from engine.demo.workflows import PAYLOAD_SAMPLERS, RUN_WEIGHTS, action_profile, demo_documents
from engine.execution.error_signature import normalise_error

Row = tuple[Any, ...]
Line = tuple[str, str, int | None, int]  # level, message, step index, offset
STATUSES = ("SUCCESS", "SKIPPED", "FAILED", "CANCELLED")
SHAPE_COLUMNS = (
    "shape", "workflow_id", "workflow_version", "status", "trigger_type", "trigger_data",
    "result", "error", "error_signature", "start_off", "end_off", "duration_ms",
    "retry_count", "available_off", "worker_id", "next_step", "cancel_requested",
)  # fmt: skip
SHAPE_STEP_COLUMNS = (
    "shape", "step_index", "action_type", "status", "result", "error", "attempt",
    "start_off", "end_off", "duration_ms",
)  # fmt: skip
SHAPE_LOG_COLUMNS = ("shape", "seq", "level", "message", "step_index", "at_off")
_LEVEL_RANK = {"ERROR": 0, "WARNING": 1, "INFO": 2, "DEBUG": 3}
_WORKERS = ("worker-1", "worker-2", "worker-3", "worker-4")
_PAYLOADS = 64


@dataclass(frozen=True)
class Step:
    """One action of a plan: what its step row and success log line say."""

    kind: str
    result: str  # JSON
    summary: str
    low_ms: float
    span_ms: float


@dataclass
class Shapes:
    """Every shape made so far, as rows for the three shape tables."""

    rows: list[Row] = field(default_factory=list)
    steps: list[Row] = field(default_factory=list)
    logs: list[Row] = field(default_factory=list)
    # Per shape: (end offset, duration counted in the average or None), for the counters.
    outcomes: list[tuple[int, float | None]] = field(default_factory=list)


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
    run_payloads: list[str]
    skip_payloads: list[tuple[str, str]]  # (payload JSON, why it was skipped)
    checks: str | None  # the "conditions passed" debug line

    def shape(self, shapes: Shapes, status: str, rng: random.Random) -> int:
        """Add one random shape with this status to ``shapes``; returns its number."""
        number = len(shapes.rows)
        trigger, started_line = self.triggers[int(rng.random() * len(self.triggers))]
        if status == "SKIPPED":
            payload, why = self.skip_payloads[int(rng.random() * len(self.skip_payloads))]
        else:
            payload = self.run_payloads[int(rng.random() * len(self.run_payloads))]
        if status == "CANCELLED" and rng.random() < 0.5:
            end = 5_000_000 + int(rng.random() * 120_000_000)
            shapes.logs.append((number, 0, "INFO", f"queued by {trigger} trigger", None, 0))
            shapes.logs.append((number, 1, "WARNING", "cancelled before it started", None, end))
            shapes.rows.append(
                (number, self.workflow_id, self.version, status, trigger, payload, None, None,
                 None, None, end, None, 0, 0, None, 0, True)
            )  # fmt: skip
            shapes.outcomes.append((end, None))
            return number
        first_start = start = 20_000 + int(rng.random() ** 3 * 3_000_000)
        retries, fail_at, error, n_steps = 0, -1, None, len(self.steps)
        if status == "FAILED":
            fail_at, error, transient = self.failures[int(rng.random() * len(self.failures))]
            retries = self.max_retries if transient else 0
            n_steps = fail_at + 1
            if error.startswith("template path "):  # make the payload match the error
                payload = _without(payload, error.split()[2])
        elif status == "SUCCESS":
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
            millis = round(step.low_ms + rng.random() * step.span_ms, 3)
            step_start, at = at, at + int(millis * 1000)
            failed = index == fail_at
            shapes.steps.append(
                (number, index, step.kind, "FAILED" if failed else "SUCCESS",
                 None if failed else step.result, error if failed else None, attempt,
                 step_start, at, millis)
            )  # fmt: skip
            if failed:
                lines.append(("ERROR", f"step {index} {step.kind} failed: {error}", index, at))
            else:
                lines.append(("INFO", f"step {index} {step.kind}: {step.summary}", index, at))
        end = at + 300 + int(rng.random() * 3_000)
        duration = round((end - start) / 1000, 3)
        result = None
        if status == "SUCCESS":
            result = json.dumps({"steps_completed": n_steps})
            lines.append(("INFO", f"finished in {duration:.0f} ms", None, end))
        elif status == "FAILED":
            lines.append(("ERROR", f"failed after {retries} retries: {error}", None, end))
        elif status == "CANCELLED":
            message = f"cancelled after {n_steps} of {len(self.steps)} steps"
            lines.append(("WARNING", message, None, end))
        shapes.logs.append((number, 0, "INFO", started_line, None, first_start))
        for seq, (level, text, step_index, when) in enumerate(
            _trimmed(lines, 2 + int(rng.random() * 4)), start=1
        ):
            shapes.logs.append((number, seq, level, text, step_index, when))
        signature = normalise_error(error) if status == "FAILED" else None
        shapes.rows.append(
            (number, self.workflow_id, self.version, status, trigger, payload, result, error,
             signature, start, end, duration, retries, start - 10_000, _WORKERS[number % 4],
             fail_at if status == "FAILED" else n_steps, status == "CANCELLED")
        )  # fmt: skip
        shapes.outcomes.append((end, duration if status in ("SUCCESS", "FAILED") else None))
        return number


def _without(payload: str, path: str) -> str:
    """The JSON payload without the value at ``trigger.a.b``."""
    data = json.loads(payload)
    *parents, last = path.split(".")[1:]
    node = data
    for key in parents:
        node = node.get(key, {}) if isinstance(node, dict) else {}
    if isinstance(node, dict):
        node.pop(last, None)
    return json.dumps(data)


def _trimmed(lines: list[Line], total: int) -> list[Line]:
    """At most ``total - 1`` lines (the start line makes ``total``): the last one always,
    then the most severe ones, in time order."""
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
    from engine.definitions.conditions import evaluate, explain, parse_condition

    condition = parse_condition(doc["conditions"]) if doc["conditions"] else None
    runs: list[str] = []
    skips: list[tuple[str, str]] = []
    for _ in range(_PAYLOADS * 6):
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
        run_payloads=runs[:_PAYLOADS],
        skip_payloads=skips[:_PAYLOADS],
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
