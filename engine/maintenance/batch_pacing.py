"""Batch sizes that keep each cleanup transaction near a target duration.

A fixed number of rows per batch takes 50 ms on a quiet database and over a second on a
busy one (or when each execution cascades to many log lines). ``BatchPacer`` sizes the
next batch from the time per row, so a batch stays near ``target_seconds`` whatever the
load: it at most doubles per batch up to ``most`` and shrinks at once (down to
``least``) when a batch ran long or was cancelled. The time per row it plans with is the
slower of the last batch's and a running average, so one lucky batch on a busy machine
does not make the next one long.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TARGET_SECONDS = 0.25
FIRST_BATCH = 1000
LEAST = 50
SMOOTHING = 0.5  # weight of the newest batch in the running average of time per row


@dataclass
class BatchPacer:
    """The size of the next batch; ``record`` what the last one did, ``failed`` on timeout."""

    most: int
    target_seconds: float = TARGET_SECONDS
    first: int = FIRST_BATCH
    least: int = LEAST
    size: int = field(init=False)
    _per_row: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.most < 1:
            raise ValueError("batch_size must be at least 1")
        if self.target_seconds <= 0:
            raise ValueError("the target batch duration must be positive")
        self.least = min(self.least, self.most)
        self.size = max(self.least, min(self.first, self.most))

    def record(self, rows: int, seconds: float) -> None:
        """Aim the next batch at the target from this one's time per row."""
        if rows <= 0:
            return
        per_row = max(seconds, 0.0) / rows
        if self._per_row:
            self._per_row = SMOOTHING * per_row + (1 - SMOOTHING) * self._per_row
        else:
            self._per_row = per_row
        slower = max(per_row, self._per_row)
        ideal = 2 * self.size if slower <= 0 else int(self.target_seconds / slower)
        self.size = max(self.least, min(self.most, 2 * self.size, ideal))

    def failed(self) -> None:
        """A batch hit its lock or statement timeout: try a quarter of the size."""
        self.size = max(self.least, self.size // 4)
