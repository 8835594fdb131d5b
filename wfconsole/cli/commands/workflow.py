"""``wfconsole workflow validate | import | export | list | versions | enable | disable |
delete``.

Commands that change something check the operator's stored role in the engine, as the
console does: import, enable, disable and delete need ADMIN; each writes an audit row.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wfconsole.cli.command_table import Command, Group, Row, arg
from wfconsole.cli.context import current_user, opened_database
from wfconsole.cli.errors import UserError
from wfconsole.cli.output import print_table, timestamp
from wfconsole.cli.paging import (
    limit_arguments,
    output_arguments,
    output_format,
    page_limit,
    print_indented_json_array,
    print_jsonl,
)
from wfconsole.cli.plain import plain_reader

if TYPE_CHECKING:
    from engine.plain_reads.workflows import WorkflowSummary

JSON_OUTPUT = arg("--json", action="store_true", help="machine-readable output")


def _load_files(paths: list[str]) -> list[Any]:
    """Validate every file first; the first bad one is an error naming file and field."""
    from engine.definitions.schema import DefinitionError, load_definition_text

    definitions = []
    for name in paths:
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserError(f"{name}: no such file") from None
        except UnicodeDecodeError:
            raise UserError(f"{name}: not UTF-8 text") from None
        except OSError as exc:
            raise UserError(f"{name}: {exc.strerror}") from None
        yaml_allowed = path.suffix.lower() in (".yaml", ".yml")
        try:
            definitions.append(load_definition_text(text, yaml_allowed=yaml_allowed))
        except DefinitionError as exc:
            raise UserError(f"{name}: {exc.first_line}") from None
    return definitions


def validate_command(args: argparse.Namespace) -> int:
    """Validate files; nothing is stored."""
    definitions = _load_files(args.files)
    for name, definition in zip(args.files, definitions, strict=True):
        print(f"{name}: ok ({definition.name})")
    return 0


def import_command(args: argparse.Namespace) -> int:
    """Validate every file, then store them all in one transaction."""
    from engine.definitions.schema import DefinitionError
    from engine.services.workflows import save_definitions

    definitions = _load_files(args.files)
    names = [d.name for d in definitions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(f"name: {duplicates[0]!r} is defined by more than one file")
    with opened_database(args) as db:
        try:
            results = save_definitions(db, definitions, actor=current_user(args), check_role=True)
        except DefinitionError as exc:
            source = args.files[exc.index] if exc.index is not None else "import"
            raise UserError(f"{source}: {exc.first_line}") from None
    for result in results:
        print(f"{result.name}: {result.outcome} (version {result.version})")
    return 0


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "workflow"


def export_command(args: argparse.Namespace) -> int:
    """Print or write definitions as JSON."""
    from engine.services.workflows import export_documents

    with opened_database(args) as db:
        documents = export_documents(db, args.name)
    output = Path(args.output) if args.output else None
    if args.name is None and output is not None and (output.is_dir() or args.output.endswith("/")):
        output.mkdir(parents=True, exist_ok=True)
        for document in documents:
            target = output / f"{_slug(document['name'])}.json"
            target.write_text(_dumps(document), encoding="utf-8")
        print(f"wrote {len(documents)} workflow(s) to {output}", file=sys.stderr)
        return 0
    payload: Any = documents[0] if args.name is not None else documents
    if output is None:
        sys.stdout.write(_dumps(payload))
    else:
        output.write_text(_dumps(payload), encoding="utf-8")
    return 0


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def list_command(args: argparse.Namespace) -> int:
    """Print the workflows by name as a table, a JSON array or JSON lines: every one, or
    exactly ``--limit`` when that many exist; ``--after NAME`` resumes after a name. The
    plain read answers when it can (``wfconsole.cli.plain``)."""
    limit = page_limit(args, None)
    with plain_reader(args) as plain:
        if plain is not None:
            from engine.plain_reads.workflows import iter_workflows as iter_plain

            return _print_workflows(args, iter_plain(plain[0], limit=limit, after=args.after))
    from engine.services.workflow_list import iter_workflows

    with opened_database(args) as db:
        return _print_workflows(args, iter_workflows(db, limit=limit, after=args.after))


def _print_workflows(args: argparse.Namespace, found: Iterator[WorkflowSummary]) -> int:
    if args.jsonl:
        print_jsonl(_summary_json(r) for r in found)
        return 0
    if args.json:
        print_indented_json_array(_summary_json(r) for r in found)
        return 0
    print_table(
        ["NAME", "ENABLED", "VER", "TRIGGERS", "RUNS", "SUCCESS", "LAST RUN"],
        [
            [
                r.name,
                ("yes" if r.enabled else "no") + (f", {r.flow_state}" if r.flow_state else ""),
                str(r.version),
                ",".join(r.trigger_types),
                str(r.execution_count),
                "-" if r.success_rate is None else f"{r.success_rate:.0%}",
                timestamp(r.last_execution_at) or "-",
            ]
            for r in found
        ],
    )
    return 0


def _summary_json(r: WorkflowSummary) -> dict[str, Any]:
    return {
        "id": r.id, "name": r.name, "enabled": r.enabled, "version": r.version,
        "category": r.category, "triggers": list(r.trigger_types),
        "actions": r.action_count, "execution_count": r.execution_count,
        "success_count": r.success_count, "failure_count": r.failure_count,
        "last_execution_at": timestamp(r.last_execution_at),
        "avg_execution_ms": r.avg_execution_ms,
        "paused": r.paused_at is not None, "paused_until": timestamp(r.paused_until),
        "max_concurrent": r.max_concurrent, "rate_limit": r.rate_limit,
    }  # fmt: skip


def versions_command(args: argparse.Namespace) -> int:
    """Print the saved versions of one workflow, newest first."""
    from engine.services.workflows import list_versions

    output_format(args)
    with opened_database(args) as db:
        versions = list_versions(db, args.name)
    documents = (
        {"version": v.version, "created_at": timestamp(v.created_at),
         "created_by": v.created_by, "definition": v.definition}
        for v in versions
    )  # fmt: skip
    if args.jsonl:
        print_jsonl(documents)
        return 0
    if args.json:
        print(json.dumps(list(documents), indent=2))
        return 0
    print_table(
        ["VERSION", "SAVED AT", "BY"],
        [[str(v.version), timestamp(v.created_at) or "", v.created_by or ""] for v in versions],
    )
    return 0


def switch_command(args: argparse.Namespace) -> int:
    """Enable or disable one workflow; says whether that changed it."""
    from engine.services.workflow_admin import set_enabled

    with opened_database(args) as db:
        changed = set_enabled(db, args.name, args.enabled, actor=current_user(args))
    state = "enabled" if args.enabled else "disabled"
    print(f"{args.name}: {state}" if changed else f"{args.name}: already {state}")
    return 0


def delete_command(args: argparse.Namespace) -> int:
    """Delete one workflow and everything that belongs to it, after ``--yes``."""
    from engine.services.workflow_admin import delete_workflow

    if not args.yes:
        raise UserError(f"--yes: deleting {args.name!r} also deletes its executions; confirm")
    with opened_database(args) as db:
        removed = delete_workflow(db, args.name, actor=current_user(args))
    print(f"{args.name}: deleted with {removed} execution(s)")
    return 0


NAME = arg("name", metavar="NAME")
COMMANDS: tuple[Row, ...] = (
    Group("workflow", "workflow definitions as files"),
    Command(("workflow", "validate"), validate_command,
            "check definition files without storing them",
            (arg("files", nargs="+", metavar="FILE"),)),
    Command(("workflow", "import"), import_command, "store definitions (upsert by name)",
            (arg("files", nargs="+", metavar="FILE"),)),
    Command(("workflow", "export"), export_command, "write definitions as JSON",
            (arg("name", nargs="?", metavar="NAME", help="one workflow (default: all)"),
             arg("-o", "--output", metavar="FILE",
                 help="file, or a directory for one file per workflow"))),
    Command(("workflow", "list"), list_command, "list workflows, by name",
            (*limit_arguments(None, "workflows"),
             arg("--after", metavar="NAME", help="continue after NAME (the last one listed)"),
             *output_arguments())),
    Command(("workflow", "versions"), versions_command,
            "list the saved versions of a workflow", (NAME, *output_arguments())),
    *(
        Command(("workflow", verb), switch_command,
                f"{verb} a workflow (no new version; needs ADMIN)", (NAME,),
                defaults={"enabled": enabled})
        for verb, enabled in (("enable", True), ("disable", False))
    ),
    Command(("workflow", "delete"), delete_command,
            "delete a workflow with its versions and executions (needs ADMIN)",
            (NAME, arg("--yes", action="store_true", help="confirm: the executions go too"))),
)  # fmt: skip
