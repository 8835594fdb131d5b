"""``wfconsole views save NAME FILTER`` / ``list [--json]`` / ``delete NAME``.

Named executions filters (the console's ``/`` filter text, ``where:`` included), recalled
from the console's command palette. Kept in ``<data dir>/views.json``
(``engine.services.saved_views``); a filter is checked as the console reads it before it
is saved.
"""

from __future__ import annotations

import argparse
import json

from wfconsole.cli.command_table import Command, Group, Row, arg
from wfconsole.cli.errors import UserError
from wfconsole.cli.output import print_table


def save_command(args: argparse.Namespace) -> int:
    from engine.services.saved_views import ViewError, save_view
    from wfconsole.console.views.execution_filter import FilterSyntaxError, parse_filter

    text = " ".join(args.filter)
    try:
        parse_filter(text)
        replaced = save_view(args.name, text)
    except (FilterSyntaxError, ViewError) as exc:
        raise UserError(str(exc)) from None
    print(f"{'replaced' if replaced else 'saved'} view {args.name.strip()!r}")
    return 0


def list_command(args: argparse.Namespace) -> int:
    from engine.services.saved_views import ViewError, load_views

    try:
        views = load_views()
    except ViewError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(json.dumps([{"name": v.name, "filter": v.filter} for v in views], indent=2))
    elif views:
        print_table(["NAME", "FILTER"], [[v.name, v.filter] for v in views])
    else:
        print("no saved views (wfconsole views save NAME FILTER)")
    return 0


def delete_command(args: argparse.Namespace) -> int:
    from engine.services.saved_views import ViewError, delete_view

    try:
        deleted = delete_view(args.name)
    except ViewError as exc:
        raise UserError(str(exc)) from None
    if not deleted:
        raise UserError(f"no view named {args.name!r}")
    print(f"deleted view {args.name!r}")
    return 0


COMMANDS: tuple[Row, ...] = (
    Group("views", "saved execution filters, recalled from the console's palette"),
    Command(
        ("views", "save"), save_command, "save an executions filter under a name",
        (arg("name", help="the view's name"),
         arg("filter", nargs="+", help="the filter as typed after / in the console, e.g. "
             "status:FAILED since:24h where:trigger.order = o2")),
        description="Save (or replace) a named executions filter; the console's command "
        "palette lists it as 'View: NAME'. The filter is checked first.",
    ),
    Command(("views", "list"), list_command, "list the saved views",
            (arg("--json", action="store_true", help="an array of {name, filter}"),)),
    Command(("views", "delete"), delete_command, "delete a saved view",
            (arg("name", help="the view's name"),)),
)  # fmt: skip
