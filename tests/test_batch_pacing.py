"""Cleanup batch sizes follow the time each batch took, within their bounds."""

from __future__ import annotations

import pytest

from engine.maintenance.batch_pacing import BatchPacer


def test_the_first_batch_is_small_and_never_above_the_most() -> None:
    assert BatchPacer(most=20_000).size == 1000
    assert BatchPacer(most=5).size == 5


def test_a_slow_batch_shrinks_the_next_to_the_target() -> None:
    pacer = BatchPacer(most=20_000, target_seconds=0.25)
    pacer.record(1000, 1.0)  # 1 ms a row: 250 ms is 250 rows
    assert pacer.size == 250


def test_a_fast_batch_at_most_doubles_the_next_and_stays_under_the_most() -> None:
    pacer = BatchPacer(most=3000, target_seconds=0.25)
    pacer.record(1000, 0.01)
    assert pacer.size == 2000
    pacer.record(2000, 0.01)
    assert pacer.size == 3000


def test_a_cancelled_batch_retries_at_a_quarter_but_never_below_the_least() -> None:
    pacer = BatchPacer(most=20_000, least=50)
    pacer.failed()
    assert pacer.size == 250
    pacer.failed()
    pacer.failed()
    assert pacer.size == 50


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        BatchPacer(most=0)
    with pytest.raises(ValueError, match="target"):
        BatchPacer(most=10, target_seconds=0)


def test_one_fast_batch_after_slow_ones_grows_by_the_average_not_the_fast_rate() -> None:
    pacer = BatchPacer(most=20_000, target_seconds=0.25)
    pacer.record(1000, 1.0)  # 1 ms a row
    assert pacer.size == 250
    pacer.record(250, 0.025)  # 0.1 ms a row; the average is 0.55 ms
    assert pacer.size == 454  # not 500 (twice the last), nor 2,500 (the last rate)
