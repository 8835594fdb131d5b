"""``wfconsole alerts check`` (one evaluation, for cron) and ``alerts list`` (the history).

``check`` opens and resolves incidents and sends notifications: it needs OPERATOR and is
audited when it changed something.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from wfconsole.cli.command_table import Command, Group, Row, arg
from wfconsole.cli.context import current_user, opened_database, settings_for
from wfconsole.cli.output import print_table, timestamp
from wfconsole.cli.paging import (
    limit_arguments,
    output_arguments,
    page_limit,
    positive,
    print_indented_json_array,
    print_jsonl,
)

DEFAULT_LIMIT = 50


def _deliveries(deliveries: list[dict[str, Any]]) -> str:
    if not deliveries:
        return "-"
    return ", ".join(
        f"{d.get('channel')} {'ok' if d.get('ok') else 'FAILED: ' + str(d.get('error'))}"
        for d in deliveries
    )


def _printable(line: str) -> str:
    # Workflow names and error messages are data: no escape sequences reach the terminal.
    return "".join(ch if ch.isprintable() else "?" for ch in line)


def check_command(args: argparse.Namespace) -> int:
    """Run one check and print the incidents opened, resolved and notified."""
    from engine.access.audit import audit_change, require_permission
    from engine.access.roles import Permission
    from engine.alerts.check import check_alerts
    from engine.error_reporting import init_sentry, shutdown_sentry
    from engine.queue.instance import make_huey

    settings = settings_for(args)
    init_sentry(settings)
    actor = current_user(args)
    try:
        with opened_database(args, settings) as db:
            require_permission(db, actor, Permission.OPERATE)
            result = check_alerts(db, settings, queue_counter=make_huey(settings))
            if result.opened or result.resolved or result.notified:
                audit_change(db, actor=actor, action="alerts.check", target_type="alerts",
                             details={"opened": [r.id for r in result.opened],
                                      "resolved": [r.id for r in result.resolved],
                                      "notified": [r.id for r in result.notified]})  # fmt: skip
    finally:
        shutdown_sentry()
    if args.json:
        print(json.dumps({
            "opened": [row.as_json() for row in result.opened],
            "resolved": [row.as_json() for row in result.resolved],
            "notified": [row.as_json() for row in result.notified],
        }, indent=2))  # fmt: skip
        return 0
    for row in result.opened:
        print(_printable(f"opened    #{row.id} [{row.severity}] {row.rule} {row.subject}: "
                     f"{row.message}"))  # fmt: skip
    for row in result.resolved:
        print(_printable(f"resolved  #{row.id} [{row.severity}] {row.rule} {row.subject}"))
    for row in result.notified:
        print(_printable(f"notified  #{row.id} {_deliveries(row.deliveries)}"))
    if not (result.opened or result.resolved or result.notified):
        print("no change")
    return 0


def list_command(args: argparse.Namespace) -> int:
    """Print the alert history as a table, a JSON array or JSON lines: exactly ``--limit``
    rows when that many exist (every one with ``--all``), streamed page by page."""
    from engine.alerts.history import AlertNotFound, iter_alerts

    limit = page_limit(args, DEFAULT_LIMIT)
    with opened_database(args, user_errors=(AlertNotFound,)) as db:
        found = iter_alerts(
            db, limit=limit, before=args.before, after=args.after, open_only=args.open
        )
        if args.jsonl:
            print_jsonl(row.as_json() for row in found)
            return 0
        if args.json:
            print_indented_json_array(row.as_json() for row in found)
            return 0
        rows = list(found)
    print_table(
        ("id", "opened", "state", "severity", "rule", "subject", "message", "sent"),
        [
            (
                str(row.id), timestamp(row.opened_at) or "", "open" if row.is_open else "resolved",
                row.severity, row.rule, row.subject, row.message,
                _deliveries(row.deliveries) if row.notify_count else "-",
            )
            for row in rows
        ],
    )  # fmt: skip
    return 0


JSON_OUTPUT = arg("--json", action="store_true", help="machine-readable output")
COMMANDS: tuple[Row, ...] = (
    Group("alerts", "check alert rules and list the alert history"),
    Command(
        ("alerts", "check"), check_command,
        "evaluate the alert rules once and send what is due (for cron)", (JSON_OUTPUT,),
        description="Evaluate every rule in alerts.rules, open and resolve incidents, send "
        "due notifications, and print what changed. Exit status 0 unless it could not run.",
    ),
    Command(
        ("alerts", "list"), list_command, "the alert history, newest first",
        (arg("--open", action="store_true", help="only incidents still open"),
         *limit_arguments(DEFAULT_LIMIT, "alerts"),
         arg("--before", type=positive, metavar="ID", help="continue after ID: older alerts"),
         arg("--after", type=positive, metavar="ID",
             help="alerts opened after ID, oldest first"),
         *output_arguments()),
    ),
)  # fmt: skip
