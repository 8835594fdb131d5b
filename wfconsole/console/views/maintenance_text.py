"""What the maintenance screen says: retention, the job questions, sizes and times."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from engine.maintenance.cleanup import CleanupPlan
from engine.services.maintenance import BackupFile, MaintenanceOverview
from wfconsole.console.widgets.safe_text import safe_text


def size_text(count: int | None) -> str:
    """Bytes for people: 812 B, 1.5 MiB, 2.0 GiB."""
    if count is None:
        return "-"
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GiB"


def when(moment: datetime) -> str:
    """A time to the minute, UTC."""
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def retention_panel(overview: MaintenanceOverview | None) -> Text:
    """The retention settings a cleanup and a backup apply (executions: finished ones)."""
    if overview is None:
        return Text("")
    return Text.assemble(
        ("Retention  ", "bold"),
        ("(retention.*)", "dim"),
        f"\nlog lines   {overview.logs_days} days",
        f"\nexecutions  {overview.executions_days} days",
        f"\nbackups     {overview.backups_days} days",
    )


def backup_row(backup: BackupFile, name_width: int) -> tuple[Text, str, Text]:
    """A row of the backups list: file name, time, size."""
    return (
        safe_text(backup.path.name, max_length=name_width),
        when(backup.modified_at),
        Text(size_text(backup.size), justify="right"),
    )


def cleanup_question(plan: CleanupPlan) -> Text:
    """The rows per table a cleanup deletes, for its confirmation."""
    text = Text.assemble(
        (f"Delete {plan.rows:,} rows?\n", "bold"),
        f"log lines before {when(plan.logs_before)}\n",
        f"finished executions before {when(plan.executions_before)}\n\n",
    )
    for name, count in (
        ("workflow_execution", plan.executions),
        ("workflow_execution_step", plan.steps_with_them),
        ("workflow_execution_log", plan.old_logs + plan.logs_with_them),
    ):
        text.append(f"  {name:<25}{count:>10,}\n")
    text.append("\nPENDING and RUNNING executions are never touched.", style="dim")
    return text


def restore_question(backup: BackupFile) -> Text:
    """The warning before a restore."""
    text = Text.assemble(
        ("Restore ", "bold"),
        safe_text(backup.path.name, style="bold"),
        f" ({size_text(backup.size)}, {when(backup.modified_at)})?\n\n",
        ("This replaces EVERYTHING in the database", "bold red"),
        " — workflows, executions, users and the audit log — with the backup's contents.\n",
        ("Refused while any execution is RUNNING.", "dim"),
    )
    return text


def vacuum_question(kind: str) -> Text:
    """What a vacuum does on this database."""
    if kind == "sqlite":
        detail = (
            "SQLite VACUUM rewrites the whole file (it needs as much free disk again) and "
            "holds the write lock meanwhile: workers wait."
        )
    else:
        detail = "VACUUM (ANALYZE) and REINDEX CONCURRENTLY of every table; writers go on."
    return Text.assemble(("Vacuum the database?\n\n", "bold"), detail)
