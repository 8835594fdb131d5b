"""``wfconsole destinations``: the outbound board; ``destinations hold`` / ``release``.

The board lists every destination (``host[:port]`` of a webhook, Slack, Teams or Twilio
call, or the SMTP server) called in the window, held, failing or waited for: calls, error
rate, latency percentiles, 429s and the last Retry-After, the circuit, the hold and the
runs waiting. Holding a destination makes the steps that would call it wait (no failure,
no retry spent) until it is released (OPERATOR; audited).
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

from wfconsole.cli.command_table import Command, Group, Row, arg
from wfconsole.cli.context import current_user, opened_database, settings_for
from wfconsole.cli.output import print_table, timestamp

WINDOWS = ("5m", "1h", "24h")


def duration(text: str) -> timedelta:
    """``--for``: ``30s``, ``10m``, ``1h``, ``2d`` (engine.definitions.durations)."""
    from engine.definitions.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def board_command(args: argparse.Namespace) -> int:
    """Print the board (``--json``: one object per destination)."""
    from engine.services.destinations import destination_board

    settings = settings_for(args)
    with opened_database(args, settings) as db:
        board = destination_board(db, args.window)
    if args.json:
        print(json.dumps([row.as_json() for row in board], indent=2))
        return 0
    if not board:
        print(f"no outbound calls in the last {args.window}, and nothing held")
        return 0
    rows = []
    for row in board:
        held = "-"
        if row.held:
            until = timestamp(row.held_until) if row.held_until else "released"
            held = f"by {row.held_by} until {until}"
        retry_after = "-" if row.last_retry_after is None else f"{row.last_retry_after:g}s"
        rate = "-" if row.error_rate is None else f"{row.error_rate:.0%}"
        rows.append([
            row.destination, str(row.calls), rate, _ms(row.p50_ms), _ms(row.p95_ms),
            _ms(row.p99_ms), str(row.rate_limited), retry_after, row.circuit, held,
            str(row.waiting),
        ])  # fmt: skip
    print_table(["DESTINATION", "CALLS", "ERRORS", "P50 MS", "P95 MS", "P99 MS", "429S",
                 "RETRY-AFTER", "CIRCUIT", "HELD", "WAITING"], rows)  # fmt: skip
    return 0


def hold_command(args: argparse.Namespace) -> int:
    """Hold a destination: its steps wait until it is released (or for ``--for``)."""
    from engine.services.destinations import InvalidDestination, hold

    settings = settings_for(args)
    with opened_database(args, settings, user_errors=(InvalidDestination,)) as db:
        result = hold(db, args.destination, actor=current_user(args), for_=args.for_)
    until = f"until {timestamp(result.held_until)}" if result.held_until else "until released"
    print(f"held {result.destination} {until}; {result.waiting} run(s) waiting for it")
    return 0


def release_command(args: argparse.Namespace) -> int:
    """Release a destination and send the runs waiting for it."""
    from engine.services.destinations import InvalidDestination, release
    from engine.workers.runtime import Queue

    settings = settings_for(args)
    with opened_database(args, settings, user_errors=(InvalidDestination,)) as db:
        result = release(db, Queue(settings, db=db), args.destination, actor=current_user(args))
    state = "released" if result.was_held else "was not held;"
    print(f"{result.destination} {state} {result.released} waiting run(s) sent")
    return 0


COMMANDS: tuple[Row, ...] = (
    Group("destinations", "outbound destinations: calls, errors, latency, circuit; hold/release",
          handler=board_command,
          arguments=(arg("--json", action="store_true", help="one JSON object per destination"),
                     arg("--window", choices=WINDOWS, default="5m",
                         help="the figures of the last 5m, 1h or 24h (default 5m)"))),
    Command(
        ("destinations", "hold"), hold_command,
        "hold a destination: steps that would call it wait, no retry spent (OPERATOR)",
        (arg("destination", metavar="HOST[:PORT]",
             help="host, with the port when it is not the scheme's default"),
         arg("--for", dest="for_", type=duration, metavar="DURATION",
             help="end the hold by itself after this long (30s, 10m, 1h, 2d)")),
    ),
    Command(
        ("destinations", "release"), release_command,
        "release a held destination and send the runs waiting for it (OPERATOR)",
        (arg("destination", metavar="HOST[:PORT]", help="the held destination"),),
    ),
)  # fmt: skip
