"""The flow-control part of ``EngineBackend``: pause/resume, limits and destinations.

A mixin over the engine's ``flow_control``, ``flow_limits`` and ``destinations``
services, imported when first called like the rest of the backend. Each method is the
``ConsoleBackend`` method of the same name, documented there; a change marks the
deployment as written so the next reads go to the primary.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from engine.db import Database
    from engine.deployment import Deployment
    from engine.services.destinations import (
        DestinationFigures,
        HoldResult,
        ReleasePreview,
        ReleaseResult,
    )
    from engine.services.flow_control import HeldSummary, PauseResult, ResumeResult
    from engine.services.flow_limits import LimitState
    from engine.triggers.new_executions import Dispatcher

R = TypeVar("R")


class FlowControlCalls:
    """Pause, resume, limits and destination holds over the engine's services."""

    if TYPE_CHECKING:
        db: Database

        @property
        def reads(self) -> Database: ...

        @property
        def queue(self) -> Dispatcher: ...

        @property
        def deployment(self) -> Deployment: ...

    def _writing(self, call: Callable[[], R]) -> R:
        try:
            return call()
        finally:
            self.deployment.wrote()

    def held_summary(self, name: str) -> HeldSummary:
        from engine.services.flow_control import held_summary

        return held_summary(self.reads, name)

    def paused_workflows(self) -> list[HeldSummary]:
        from engine.services.flow_control import held_summary
        from engine.services.workflow_list import paused_workflow_names
        from engine.workflow_cache.lookups import WorkflowNotFound

        paused = []
        for name in paused_workflow_names(self.reads):  # names only, not the whole list
            try:
                paused.append(held_summary(self.reads, name))
            except WorkflowNotFound:  # deleted between the two reads
                continue
        return paused

    def pause_workflow(self, name: str, *, for_: str | None, actor: str) -> PauseResult:
        from engine.services.flow_control import pause

        return self._writing(lambda: pause(self.db, name, actor=actor, for_=for_))

    def resume_workflow(self, name: str, *, catch_up: str, actor: str) -> ResumeResult:
        from engine.services.flow_control import resume

        return self._writing(
            lambda: resume(self.db, name, actor=actor, catch_up=catch_up, queue=self.queue)
        )

    def workflow_limits(self, name: str) -> LimitState:
        from engine.services.flow_limits import limit_state

        return limit_state(self.reads, name)

    def set_workflow_limit(
        self,
        name: str,
        *,
        concurrency: str | None,
        rate: str | None,
        for_: str | None,
        actor: str,
    ) -> LimitState:
        from engine.services.flow_limits import set_limit

        def change() -> LimitState:
            return set_limit(
                self.db, name, actor=actor, concurrency=concurrency, rate=rate, for_=for_,
                queue=self.queue,
            )  # fmt: skip

        return self._writing(change)

    def clear_workflow_limit(self, name: str, *, actor: str) -> LimitState:
        from engine.services.flow_limits import clear_limit

        return self._writing(lambda: clear_limit(self.db, name, actor=actor, queue=self.queue))

    def destination_board(self, *, window: str) -> list[DestinationFigures]:
        from engine.services.destinations import destination_board

        return destination_board(self.reads, window)

    def hold_destination(
        self, destination: str, *, for_: timedelta | None, actor: str
    ) -> HoldResult:
        from engine.services.destinations import hold

        return self._writing(lambda: hold(self.db, destination, actor=actor, for_=for_))

    def preview_release(self, destination: str) -> ReleasePreview:
        from engine.services.destinations import release_preview

        return release_preview(self.reads, destination)

    def release_destination(self, destination: str, *, actor: str) -> ReleaseResult:
        from engine.services.destinations import release

        return self._writing(lambda: release(self.db, self.queue, destination, actor=actor))
