"""The console's stylesheets: the first screen's at start, every other screen's after it.

Textual parses every file of an app's ``CSS_PATH`` before it draws anything (~40 ms for
our twenty-six here), but the first screen, the execution list, needs two of them. Each
screen's file nests its rules under the screen's type (``ExecutionsScreen { … }``), so
no file styles another screen and the order they are read in changes nothing: the others
are read once the first page and the health are on screen, or before any other screen is
shown, whichever comes first (``WfConsoleApp.load_later_css``).
"""

from __future__ import annotations

from pathlib import Path, PurePath

FIRST_SCREEN_CSS: list[str | PurePath] = ["app.tcss", "screens/executions.tcss"]
"""Relative to this package, as Textual reads an app's ``CSS_PATH``."""

LATER_CSS = (
    "screens/workflows.tcss",
    "screens/execution_detail.tcss",
    "screens/blast_radius.tcss",
    "screens/help.tcss",
    "screens/dashboard.tcss",
    "screens/editor.tcss",
    "screens/dry_run.tcss",
    "screens/discard_changes.tcss",
    "screens/confirm.tcss",
    "screens/run_workflow.tcss",
    "screens/template_picker.tcss",
    "screens/failures.tcss",
    "screens/failure_cluster.tcss",
    "screens/workflow_versions.tcss",
    "screens/maintenance.tcss",
    "screens/run_diff.tcss",
    "screens/run_picker.tcss",
    "screens/schedules.tcss",
    "screens/replay.tcss",
    "screens/pause_workflow.tcss",
    "screens/workflow_limits.tcss",
    "screens/outbound.tcss",
    "screens/hold_destination.tcss",
)
"""Every other screen's stylesheet (the alerts screen names its own in ``CSS_PATH``)."""


def later_css_paths() -> list[Path]:
    """The absolute paths of ``LATER_CSS`` (whatever module subclasses the app)."""
    here = Path(__file__).resolve().parent
    return [here / name for name in LATER_CSS]
