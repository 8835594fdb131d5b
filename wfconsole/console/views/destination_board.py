"""The outbound board's columns at a screen width, a destination's cells and its detail line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from wfconsole.console.views.blast_radius_text import plural
from wfconsole.console.views.display import duration, number, short_time
from wfconsole.console.widgets.safe_text import safe_text

if TYPE_CHECKING:
    from engine.services.destinations import DestinationFigures

Column = tuple[str, str, int]  # key, label, width
WIDE = 110
"""From this width on, p50 and the last Retry-After show as columns too."""
DESTINATION_MIN, DESTINATION_MAX = 16, 40
CIRCUIT_STYLES = {"closed": "green", "open": "bold red", "half_open": "yellow"}
CIRCUIT_WORDS = {"closed": "closed", "open": "open", "half_open": "probe"}


def columns(screen_width: int) -> list[Column]:
    """(key, label, width) of every column at ``screen_width``, left to right."""
    wide = screen_width >= WIDE
    fixed: list[Column] = [
        ("calls", "calls", 6),
        ("errors", "err%", 5),
        *([("p50", "p50", 6)] if wide else []),
        ("p95", "p95", 6),
        ("p99", "p99", 6),
        ("rate_limited", "429s", 4),
        *([("retry_after", "retry-a", 7)] if wide else []),
        ("circuit", "circuit", 7),
        ("held", "held", 4),
        ("waiting", "wait", 5),
    ]
    chrome = 2 * (len(fixed) + 1) + 1  # cell padding of every column, and the scrollbar
    free = screen_width - sum(width for _, _, width in fixed) - chrome
    destination = max(DESTINATION_MIN, min(DESTINATION_MAX, free))
    return [("destination", "destination", destination), *fixed]


def error_rate(rate: float | None) -> Text:
    """The share of failed calls, red from 10 %, yellow from 1 %."""
    if rate is None:
        return Text("-", style="dim", justify="right")
    style = "red" if rate >= 0.10 else "yellow" if rate >= 0.01 else "green"
    return Text(f"{rate:.0%}", style=style, justify="right")


def latency(ms: float | None) -> Text:
    """A percentile, right-aligned (``-`` before the first call of the window)."""
    return Text(duration(ms), justify="right", style="" if ms is not None else "dim")


def circuit_text(state: str) -> Text:
    """The breaker's state: closed, open, or probe (half-open: one call on trial)."""
    return Text(CIRCUIT_WORDS.get(state, state), style=CIRCUIT_STYLES.get(state, ""))


def retry_after(figures: DestinationFigures) -> Text:
    """The last ``Retry-After`` the destination sent, in seconds."""
    if figures.last_retry_after is None:
        return Text("-", style="dim", justify="right")
    return Text(f"{figures.last_retry_after:g}s", justify="right", style="yellow")


def cells(figures: DestinationFigures, layout: list[Column]) -> tuple[Text, ...]:
    """One destination's cells in the order of ``layout``; its name is shown literally."""
    values = {
        "calls": number(figures.calls),
        "errors": error_rate(figures.error_rate),
        "p50": latency(figures.p50_ms),
        "p95": latency(figures.p95_ms),
        "p99": latency(figures.p99_ms),
        "rate_limited": Text(str(figures.rate_limited), justify="right",
                             style="yellow" if figures.rate_limited else "dim"),
        "retry_after": retry_after(figures),
        "circuit": circuit_text(figures.circuit),
        "held": Text("held", style="bold yellow") if figures.held else Text("-", style="dim"),
        "waiting": Text(str(figures.waiting), justify="right",
                        style="yellow" if figures.waiting else "dim"),
    }  # fmt: skip
    return tuple(
        safe_text(figures.destination, max_length=width) if key == "destination" else values[key]
        for key, _, width in layout
    )


def detail_text(figures: DestinationFigures | None) -> Text:
    """The highlighted destination in full: hold, Retry-After, breaker, waiting runs."""
    if figures is None:
        return Text("")
    text = Text.assemble(safe_text(figures.destination, style="bold", max_length=60))
    if figures.held:
        text.append(" · held by ")
        text.append_text(safe_text(figures.held_by or "-", max_length=30))
        text.append(f" since {short_time(figures.held_at).plain}")
        until = short_time(figures.held_until).plain if figures.held_until else "released"
        text.append(f" until {until} (UTC)")
    else:
        text.append(" · not held")
    text.append(f"\n{plural(figures.waiting, 'run')} waiting · ")
    if figures.last_retry_after is not None:
        text.append(f"last Retry-After {figures.last_retry_after:g}s at ")
        text.append_text(short_time(figures.last_retry_after_at))
        text.append(" UTC")
    else:
        text.append("no Retry-After in the window")
    text.append(f" · {figures.errors:,} errors of {figures.calls:,} calls")
    if figures.circuit != "closed":
        text.append(f" · circuit {CIRCUIT_WORDS.get(figures.circuit, figures.circuit)} after "
                    f"{figures.consecutive_failures:,} failures in a row")  # fmt: skip
    return text
