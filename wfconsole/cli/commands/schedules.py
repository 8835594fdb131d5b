"""``wfconsole schedules``: the board of schedule triggers; ``schedules backfill``.

The board lists every schedule trigger with its next fire time, last run, the age of its
last success, and the fire times of the window that have no execution (gaps) or started
late. Backfill creates one execution per fire time in a range that has none, keyed as the
cron tick keys them (OPERATOR; audited).
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta

from wfconsole.cli.command_table import Command, Group, Row, arg
from wfconsole.cli.context import current_user, opened_database, settings_for
from wfconsole.cli.output import print_table, timestamp

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    """``30s``, ``10m``, ``1h``, ``2d``."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s, 10m, 1h or 2d")
    return timedelta(**{_UNIT[match.group(2)]: int(match.group(1))})


def moment(text: str) -> datetime:
    """An ISO-8601 time (UTC when it names no zone), or a duration meaning that long ago."""
    if _DURATION.match(text.strip()):
        return datetime.now(UTC) - duration(text)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an ISO-8601 time (2026-12-06T09:00Z) nor a duration ago (3h)"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def board_command(args: argparse.Namespace) -> int:
    """Print the board: one line per schedule trigger (``--json``: every gap and late start)."""
    from engine.services.schedules import TooManyFireTimes, schedule_board

    settings = settings_for(args)
    with opened_database(args, settings, user_errors=(TooManyFireTimes,)) as db:
        now = datetime.now(UTC)
        board = schedule_board(db, now=now, window=args.window, late_after=args.late)
    documents = [status.as_json(now) for status in board]
    if args.json:
        print(json.dumps(documents, indent=2))
        return 0
    rows = []
    for status, document in zip(board, documents, strict=True):
        t = status.trigger
        rows.append([
            t.workflow, str(t.position), t.cron, t.timezone,
            "yes" if t.enabled else "no",
            timestamp(t.next_fire_at) or "-",
            f"{timestamp(status.last_run_at)} {status.last_run_status}"
            if status.last_run_at else "-",
            _age(document["last_success_age_seconds"]),
            str(len(status.gaps)), str(len(status.late)),
        ])  # fmt: skip
    print_table(["WORKFLOW", "TRIGGER", "CRON", "TZ", "ENABLED", "NEXT", "LAST RUN",
                 "LAST OK", "GAPS", "LATE"], rows)  # fmt: skip
    gaps = sum(len(status.gaps) for status in board)
    if gaps:
        print(f"\n{gaps} fire time(s) without a run in the window: "
              "`wfconsole schedules --json` lists them; `wfconsole schedules backfill NAME "
              "--since T` runs them")  # fmt: skip
    return 0


def backfill_command(args: argparse.Namespace) -> int:
    """Create (or with --dry-run list) one run per fire time in the range that has none."""
    from engine.services.schedules import TooManyFireTimes, backfill
    from engine.workers.runtime import Queue
    from engine.workflow_cache.lookups import WorkflowNotFound

    settings = settings_for(args)
    errors = (TooManyFireTimes, WorkflowNotFound, ValueError)
    with opened_database(args, settings, user_errors=errors) as db:
        plan = backfill(
            db, Queue(settings, db=db), args.name, since=args.since, until=args.until,
            dry_run=args.dry_run, actor=current_user(args),
        )  # fmt: skip
    if args.json:
        print(json.dumps({
            "workflow": plan.workflow, "since": timestamp(plan.since),
            "until": timestamp(plan.until), "dry_run": args.dry_run,
            "missing": [{"trigger": p, "fire_time": timestamp(f)} for p, f in plan.missing],
            "already_ran": plan.already_ran, "created": plan.created,
        }, indent=2))  # fmt: skip
        return 0
    span = f"{timestamp(plan.since)} .. {timestamp(plan.until)}"
    if not plan.missing:
        print(f"{plan.workflow}: every fire time in {span} has a run ({plan.already_ran}); "
              "nothing to backfill")  # fmt: skip
        return 0
    verb = "would create" if args.dry_run else "created"
    print(f"{plan.workflow}: {verb} {len(plan.missing)} run(s) for the fire times in {span} "
          f"without one ({plan.already_ran} already ran):")  # fmt: skip
    created = plan.created or [""] * len(plan.missing)
    for (position, fire), execution_id in zip(plan.missing, created, strict=True):
        print(f"  trigger {position}  {timestamp(fire)}  {execution_id}".rstrip())
    return 0


COMMANDS: tuple[Row, ...] = (
    Group("schedules", "schedule triggers: next, last run, gaps; backfill missed fire times",
          handler=board_command,
          arguments=(arg("--json", action="store_true", help="one JSON object per trigger"),
                     arg("--window", type=duration, default=timedelta(hours=24),
                         help="how far back to look for gaps and late starts (default 24h)"),
                     arg("--late", type=duration, default=timedelta(seconds=60),
                         help="a run started more than this after its fire time is late "
                         "(default 60s)"))),
    Command(
        ("schedules", "backfill"), backfill_command,
        "create one run per fire time in a range that has none (OPERATOR)",
        (arg("name", help="workflow name"),
         arg("--since", type=moment, required=True,
             help="from this time: ISO 8601 (UTC unless it says) or a duration ago (3h)"),
         arg("--until", type=moment, help="up to this time (default: now)"),
         arg("--dry-run", action="store_true", help="list what it would create; create nothing"),
         arg("--json", action="store_true", help="the plan and the ids as JSON")),
        description="Backfill the fire times a schedule missed (an outage, a disabled "
        "workflow): one execution per fire time in the range without one, keyed as the "
        "cron tick keys them, so a time that ran is never run twice.",
    ),
)  # fmt: skip
