"""Run diff: two executions side by side, and the first step where they differ.

For each run: its trigger data, the definition version it ran, and per step the action,
the rendered input, the status, the result or error and the duration. The rendered input
is rendered again from what was stored (the run's definition version, its trigger data
and the results its earlier steps stored), with secret fields masked
(``engine.execution.dry_run.preview_action``): the stored rows do not keep what was sent.
A step is the latest attempt recorded for its index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from engine.db import Database
from engine.definitions.schema import WorkflowDefinition, validate_definition
from engine.execution.dry_run import preview_action
from engine.models import (
    Workflow,
    WorkflowExecution,
    WorkflowExecutionStep,
    WorkflowVersion,
    table_of,
)
from engine.services.executions import ExecutionNotFound

E = table_of(WorkflowExecution).c
S = table_of(WorkflowExecutionStep).c
V = table_of(WorkflowVersion).c
W = table_of(Workflow).c
STEP_FIELDS = ("action", "input", "status", "result", "error")
"""What is compared per step (durations always differ a little: shown, never compared)."""
TIMING_KEYS = frozenset({"elapsed_ms"})
"""Keys of a step result that are timings: shown, never compared."""


class NothingToCompare(LookupError):
    """``--last-success`` found no other successful run of the workflow."""


@dataclass(frozen=True)
class StepSide:
    index: int
    action: str
    status: str | None  # None: the run never reached this step
    input: Any
    result: Any
    error: str | None
    duration_ms: float | None
    attempt: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "action": self.action, "status": self.status,
            "input": self.input, "result": self.result, "error": self.error,
            "duration_ms": self.duration_ms, "attempt": self.attempt,
        }  # fmt: skip


@dataclass(frozen=True)
class RunSide:
    id: str
    workflow: str
    version: int
    status: str
    error: str | None
    trigger_type: str
    trigger_data: Any
    duration_ms: float | None
    steps: list[StepSide]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "workflow": self.workflow, "version": self.version,
            "status": self.status, "error": self.error, "trigger_type": self.trigger_type,
            "trigger_data": self.trigger_data, "duration_ms": self.duration_ms,
            "steps": [step.as_json() for step in self.steps],
        }  # fmt: skip


@dataclass(frozen=True)
class StepDiff:
    index: int
    left: StepSide | None
    right: StepSide | None
    differs: tuple[str, ...]


@dataclass(frozen=True)
class RunDiff:
    left: RunSide
    right: RunSide
    trigger_paths: list[str]
    """JSON paths where the trigger data differ (``trigger.order``)."""
    definition_paths: list[str]
    """Paths where the two definition versions differ (none when the versions are equal)."""
    steps: list[StepDiff] = field(default_factory=list)

    @property
    def first_difference(self) -> StepDiff | None:
        return next((step for step in self.steps if step.differs), None)

    def as_json(self) -> dict[str, Any]:
        first = self.first_difference
        return {
            "left": self.left.as_json(),
            "right": self.right.as_json(),
            "trigger_differs": self.trigger_paths,
            "definition_differs": self.definition_paths,
            "steps": [{"index": s.index, "differs": list(s.differs)} for s in self.steps],
            "first_difference": (
                None if first is None else {"step": first.index, "fields": list(first.differs)}
            ),
        }


def json_paths_that_differ(left: Any, right: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, as paths (``a.b[2]``); a whole value when types differ."""
    if isinstance(left, dict) and isinstance(right, dict):
        found: list[str] = []
        for key in sorted(set(left) | set(right), key=str):
            child = f"{path}.{key}" if path else str(key)
            if key not in left or key not in right:
                found.append(child)
            else:
                found.extend(json_paths_that_differ(left[key], right[key], child))
        return found
    if isinstance(left, list) and isinstance(right, list):
        found = []
        for index in range(max(len(left), len(right))):
            child = f"{path}[{index}]"
            if index >= len(left) or index >= len(right):
                found.append(child)
            else:
                found.extend(json_paths_that_differ(left[index], right[index], child))
        return found
    same = type(left) is type(right) and left == right
    return [] if same else [path or "(value)"]


def _load(db: Database, execution_id: str) -> tuple[Any, str, WorkflowDefinition, dict[str, Any]]:
    with db.read_engine.connect() as conn:
        row = conn.execute(
            sa.select(E.id, E.workflow_id, E.workflow_version, E.status, E.error,
                      E.trigger_type, E.trigger_data, E.duration_ms, E.retry_count, W.name)
            .join_from(table_of(WorkflowExecution), table_of(Workflow), W.id == E.workflow_id)
            .where(E.id == execution_id)
        ).first()  # fmt: skip
        if row is None:
            raise ExecutionNotFound(execution_id)
        document = conn.execute(
            sa.select(V.definition).where(
                V.workflow_id == row.workflow_id, V.version == row.workflow_version
            )
        ).scalar_one()
    return row, str(row.name), validate_definition(document), document


def _steps(db: Database, execution_id: str) -> dict[int, Any]:
    """The latest attempt recorded for each step index."""
    with db.read_engine.connect() as conn:
        rows = conn.execute(
            sa.select(S.step_index, S.action_type, S.status, S.result, S.error, S.duration_ms,
                      S.attempt)
            .where(S.execution_id == execution_id)
            .order_by(S.step_index, S.id)
        ).all()  # fmt: skip
    return {row.step_index: row for row in rows}  # later rows (attempts) win


def run_side(db: Database, execution_id: str) -> tuple[RunSide, dict[str, Any]]:
    """One run as the diff shows it, and its definition document."""
    row, name, definition, document = _load(db, execution_id)
    stored = _steps(db, execution_id)
    context: dict[str, Any] = {
        "trigger": row.trigger_data,
        "workflow": {"id": row.workflow_id, "name": definition.name,
                     "version": row.workflow_version},
        "execution": {"id": row.id, "retry_count": row.retry_count,
                      "trigger_type": row.trigger_type},
        "steps": [],
    }  # fmt: skip
    steps = []
    for index, spec in enumerate(definition.actions):
        step = stored.get(index)
        rendered = preview_action(spec, index, context, steps_known=True)
        steps.append(
            StepSide(
                index=index, action=spec.type,
                status=None if step is None else step.status,
                input=rendered.fields if step is not None else None,
                result=None if step is None else step.result,
                error=None if step is None else step.error,
                duration_ms=None if step is None else step.duration_ms,
                attempt=None if step is None else step.attempt,
            )
        )  # fmt: skip
        if step is not None:
            context["steps"].append(
                {"index": index, "type": step.action_type, "status": step.status,
                 "result": step.result}
            )  # fmt: skip
    side = RunSide(
        id=row.id, workflow=name, version=row.workflow_version, status=row.status,
        error=row.error, trigger_type=row.trigger_type, trigger_data=row.trigger_data,
        duration_ms=row.duration_ms, steps=steps,
    )  # fmt: skip
    return side, document


def last_success(db: Database, execution_id: str) -> str:
    """The newest SUCCESS run of the same workflow, other than ``execution_id``."""
    with db.read_engine.connect() as conn:
        workflow_id = conn.execute(
            sa.select(E.workflow_id).where(E.id == execution_id)
        ).scalar_one_or_none()
        if workflow_id is None:
            raise ExecutionNotFound(execution_id)
        found = conn.execute(
            sa.select(E.id)
            .where(E.workflow_id == workflow_id, E.status == "SUCCESS", E.id != execution_id)
            .order_by(E.created_at.desc(), E.id.desc())
            .limit(1)
        ).scalar_one_or_none()
    if found is None:
        raise NothingToCompare(f"no other successful run of the workflow of {execution_id}")
    return str(found)


def diff_executions(db: Database, execution_id: str, against: str | None = None) -> RunDiff:
    """``execution_id`` (left) beside ``against`` (right; default: the last success)."""
    other = against or last_success(db, execution_id)
    left, left_doc = run_side(db, execution_id)
    right, right_doc = run_side(db, other)
    definition_paths = (
        [] if (left.workflow, left.version) == (right.workflow, right.version)
        else json_paths_that_differ(left_doc, right_doc)
    )  # fmt: skip
    steps = []
    for index in range(max(len(left.steps), len(right.steps))):
        a = left.steps[index] if index < len(left.steps) else None
        b = right.steps[index] if index < len(right.steps) else None
        if a is None or b is None:
            differs: tuple[str, ...] = ("missing",)
        else:
            differs = tuple(n for n in STEP_FIELDS if _compared(a, n) != _compared(b, n))
        steps.append(StepDiff(index, a, b, differs))
    trigger_paths = [
        "trigger" + ("" if p == "(value)" else "." + p)
        for p in json_paths_that_differ(left.trigger_data, right.trigger_data)
    ]
    return RunDiff(left, right, trigger_paths, definition_paths, steps)


def _compared(step: StepSide, name: str) -> Any:
    value = getattr(step, name)
    if name == "result" and isinstance(value, dict):
        return {key: item for key, item in value.items() if key not in TIMING_KEYS}
    return value
