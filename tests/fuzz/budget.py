"""How hard the fuzz suite tries: bounded in CI, many more examples with WFCONSOLE_SOAK=1."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from typing import Any, Final

SOAK: Final = os.environ.get("WFCONSOLE_SOAK") == "1"
SOAK_FACTOR: Final = 50
# Per-input time bound for the "refused fast" properties. Generous on purpose: the CI
# machine is shared, and the hostile inputs this guards against take seconds or hang.
FAST_SECONDS: Final = 0.05 if os.environ.get("WFCONSOLE_STRICT_TIMING") == "1" else 0.5


def examples(ci: int) -> int:
    """The number of examples a property runs: ``ci`` in CI, SOAK_FACTOR times that in soak."""
    return ci * SOAK_FACTOR if SOAK else ci


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    """(CPU seconds of this thread, outcome) of one call; the outcome is the result or the
    exception raised. CPU time, not wall time: on a shared machine a descheduled call is not
    slow (a CI run failed at 0.79 s wall for a 0.03 s call), while a runaway parse or regex
    still burns its seconds here. The garbage collector is paused meanwhile: late in a full
    run a collection of the whole suite's heap took 0.8 s inside a 0.04 s call."""
    collecting = gc.isenabled()
    gc.disable()
    start = time.thread_time()
    try:
        outcome: Any = function()
    except Exception as exc:
        outcome = exc
    finally:
        elapsed = time.thread_time() - start
        if collecting:
            gc.enable()
    return elapsed, outcome
