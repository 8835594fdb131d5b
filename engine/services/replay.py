"""Replay (fix forward): a new execution that runs a past one again from one of its steps.

The new run is linked to the original (``replay_of``), carries the original's trigger data
(patched with ``--set PATH=VALUE``), and runs from step N on the original definition version
or the workflow's latest. The steps before N are not sent again: their stored results are
copied into the new run, which resumes after them exactly as a retried run does (their
results feed the later steps' templates). By default N is the step the original failed at.

A dry run renders what would be sent (secrets masked; ``engine.execution.dry_run``) and
creates nothing. OPERATOR; audited (``execution.replay``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from engine.access.audit import authorize
from engine.access.roles import Permission
from engine.db import Database, session_scope
from engine.definitions.schema import WorkflowDefinition, validate_definition
from engine.execution.dry_run import ActionPreview, preview_action
from engine.models import (
    AuditLog,
    LogLevel,
    Workflow,
    WorkflowExecution,
    WorkflowExecutionLog,
    WorkflowExecutionStep,
    WorkflowVersion,
    new_id,
    table_of,
    utcnow,
)
from engine.services.executions import ExecutionNotFound
from engine.triggers.new_executions import Dispatcher, WorkflowDisabled, dispatch_all

EXECUTIONS = table_of(WorkflowExecution)
STEPS = table_of(WorkflowExecutionStep)
LOGS = table_of(WorkflowExecutionLog)
E, S = EXECUTIONS.c, STEPS.c
V = table_of(WorkflowVersion).c
W = table_of(Workflow).c
Version = Literal["original", "latest"]
MAX_PATCH_DEPTH = 16


class ReplayRefused(ValueError):
    """The replay cannot be made as asked (a step out of range, no result to copy, …);
    ``field`` names the option at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Patch:
    """``--set PATH=VALUE``: ``PATH`` into the trigger data (``order.id``; a leading
    ``trigger.`` is allowed), ``VALUE`` a JSON literal or else a plain string."""

    path: tuple[str, ...]
    value: Any

    @classmethod
    def parse(cls, text: str) -> Patch:
        path, sep, raw = text.partition("=")
        parts = tuple(path.strip().split("."))
        if parts and parts[0] == "trigger":
            parts = parts[1:]
        if not sep or not parts or any(not p for p in parts) or len(parts) > MAX_PATCH_DEPTH:
            raise ReplayRefused(f"--set {text!r}: give PATH=VALUE, e.g. order.id=o2", "set")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw  # a bare word is a string
        return cls(parts, value)

    def apply(self, data: Any) -> Any:
        data = copy.deepcopy(data) if isinstance(data, dict) else {}
        node = data
        for part in self.path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[self.path[-1]] = self.value
        return data


@dataclass
class ReplayPlan:
    """One replay: what is copied, what runs, and (after the fact) the new execution's id."""

    original: str
    workflow: str
    version: int
    from_step: int
    trigger_data: Any
    copied: list[tuple[int, str, str]]
    """(index, action, status) of the steps before ``from_step``, copied, not sent."""
    runs: list[ActionPreview]
    """The steps from ``from_step`` on, rendered as far as the copied results allow."""
    workflow_id: str
    trigger_type: str
    new_id: str | None = None
    notes: list[str] = field(default_factory=list)
    disabled: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "original": self.original,
            "workflow": self.workflow,
            "version": self.version,
            "from_step": self.from_step,
            "trigger_data": self.trigger_data,
            "copied_steps": [{"index": i, "action": a, "status": st} for i, a, st in self.copied],
            "steps_to_run": [_step_json(p) for p in self.runs],
            "execution": self.new_id,
            "notes": self.notes,
        }


def _step_json(preview: ActionPreview) -> dict[str, Any]:
    request = preview.request
    return {
        "index": preview.index,
        "action": preview.type,
        "input": preview.fields,
        "request": None if request is None else {
            "method": request.method, "url": request.url, "headers": request.headers,
            "body": request.body,
        },
    }  # fmt: skip


def _original(conn: sa.Connection, execution_id: str) -> Any:
    row = conn.execute(
        sa.select(E.id, E.workflow_id, E.workflow_version, E.status, E.trigger_type,
                  E.trigger_data, E.next_step, W.name, W.version.label("latest"), W.enabled)
        .join_from(EXECUTIONS, table_of(Workflow), W.id == E.workflow_id)
        .where(E.id == execution_id)
    ).first()  # fmt: skip
    if row is None:
        raise ExecutionNotFound(execution_id)
    return row


def _definition(conn: sa.Connection, workflow_id: str, version: int) -> WorkflowDefinition:
    document = conn.execute(
        sa.select(V.definition).where(V.workflow_id == workflow_id, V.version == version)
    ).scalar_one()
    return validate_definition(document)


def _stored_steps(conn: sa.Connection, execution_id: str) -> dict[int, Any]:
    rows = conn.execute(
        sa.select(S.step_index, S.action_type, S.status, S.result, S.error, S.duration_ms,
                  S.started_at, S.completed_at)
        .where(S.execution_id == execution_id)
        .order_by(S.step_index, S.id)
    ).all()  # fmt: skip
    return {row.step_index: row for row in rows}  # the latest attempt of each step


def plan_replay(
    db: Database,
    execution_id: str,
    *,
    from_step: int | None = None,
    version: Version = "original",
    patches: Sequence[Patch] = (),
) -> tuple[ReplayPlan, dict[int, Any]]:
    """What replaying ``execution_id`` would copy and run; and the stored steps to copy."""
    with db.engine.connect() as conn:  # the primary: what was just written counts
        row = _original(conn, execution_id)
        number = row.workflow_version if version == "original" else row.latest
        definition = _definition(conn, row.workflow_id, number)
        stored = _stored_steps(conn, execution_id)
    start = from_step
    if start is None:  # the step the original stopped at (0 when it never ran one)
        start = row.next_step if row.status in ("FAILED", "CANCELLED") else 0
    if not 0 <= start < len(definition.actions):
        raise ReplayRefused(
            f"--from-step {start}: version {number} of {row.name!r} has steps 0 to "
            f"{len(definition.actions) - 1}",
            "from_step",
        )
    copied: list[tuple[int, str, str]] = []
    context_steps: list[dict[str, Any]] = []
    for index in range(start):
        step = stored.get(index)
        if step is None or step.status not in ("SUCCESS", "FAILED"):
            raise ReplayRefused(
                f"--from-step {start}: step {index} of {execution_id} has no result to copy "
                "(it never finished); replay from an earlier step",
                "from_step",
            )
        copied.append((index, step.action_type, step.status))
        context_steps.append({"index": index, "type": step.action_type, "status": step.status,
                              "result": step.result})  # fmt: skip
    data = row.trigger_data
    for patch in patches:
        data = patch.apply(data)
    context = {
        "trigger": data,
        "workflow": {"id": row.workflow_id, "name": definition.name, "version": number},
        "execution": {"id": "replay", "retry_count": 0, "trigger_type": row.trigger_type},
        "steps": context_steps,
    }
    runs = [
        preview_action(spec, index, context, steps_known=True)
        for index, spec in enumerate(definition.actions)
        if index >= start
    ]
    plan = ReplayPlan(execution_id, str(row.name), number, start, data, copied, runs,
                      workflow_id=row.workflow_id, trigger_type=row.trigger_type)  # fmt: skip
    if version == "latest" and number != row.workflow_version:
        plan.notes.append(
            f"runs version {number} (the original ran version {row.workflow_version}); the "
            "copied results are the original's"
        )
    if not row.enabled:
        plan.disabled = True
        plan.notes.append(f"workflow {row.name!r} is disabled: the replay is refused")
    return plan, {i: stored[i] for i in range(start)}


def replay_executions(
    db: Database,
    queue: Dispatcher,
    execution_ids: Sequence[str],
    *,
    from_step: int | None = None,
    version: Version = "original",
    patches: Sequence[Patch] = (),
    dry_run: bool = False,
    actor: str,
) -> list[ReplayPlan]:
    """Replay each of ``execution_ids`` (all planned first: one refusal creates nothing)."""
    with session_scope(db) as session:
        authorize(session, actor, Permission.OPERATE)
    planned = [
        plan_replay(db, i, from_step=from_step, version=version, patches=patches)
        for i in dict.fromkeys(execution_ids)
    ]
    if dry_run:
        return [plan for plan, _ in planned]
    for plan, _ in planned:
        if plan.disabled:
            raise WorkflowDisabled(plan.workflow)
    now = utcnow()
    with db.engine.begin() as conn:
        for plan, copied in planned:
            plan.new_id = new_id()
            conn.execute(
                sa.insert(EXECUTIONS).values(
                    id=plan.new_id, workflow_id=plan.workflow_id, workflow_version=plan.version,
                    status="PENDING", trigger_type=plan.trigger_type,
                    trigger_data=plan.trigger_data, created_at=now, available_at=now,
                    retry_count=0,
                    next_step=plan.from_step, cancel_requested=False, event_depth=0,
                    replay_of=plan.original,
                )
            )  # fmt: skip
            if copied:
                conn.execute(sa.insert(STEPS), [
                    {"execution_id": plan.new_id, "step_index": index,
                     "action_type": step.action_type, "status": step.status,
                     "result": step.result, "error": step.error, "attempt": 0,
                     "started_at": step.started_at, "completed_at": step.completed_at,
                     "duration_ms": step.duration_ms}
                    for index, step in sorted(copied.items())
                ])  # fmt: skip
            conn.execute(
                sa.insert(LOGS).values(
                    execution_id=plan.new_id, level=LogLevel.INFO.value, timestamp=now,
                    message=f"replay of {plan.original} from step {plan.from_step} "
                    f"(version {plan.version}); steps before it copied, not sent",
                )
            )  # fmt: skip
            conn.execute(
                sa.insert(table_of(AuditLog)).values(
                    timestamp=now, actor=actor, action="execution.replay",
                    target_type="execution", target_id=plan.original,
                    details={"replay": plan.new_id, "from_step": plan.from_step,
                             "version": plan.version, "patched": [".".join(p.path)
                                                                  for p in patches]},
                )
            )  # fmt: skip
    dispatch_all(queue, [plan.new_id for plan, _ in planned if plan.new_id])
    return [plan for plan, _ in planned]
