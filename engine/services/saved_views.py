"""Saved views: named execution filters (``wfconsole views save NAME FILTER``), recalled
from the console's command palette.

A view is a name and the text of an executions filter, as typed after ``/`` in the console
(``status:FAILED since:24h where:trigger.order = o2``). They are the operator's own
shortcuts, like shell aliases, so they live in one JSON file in the data directory
(``<data dir>/views.json``), created 0600 in a 0700 directory
(``engine.security.private_files``: a filter may quote payload values), not in the
database: saving one needs no role, no migration and no audit entry, and it works the same
whichever database the console is attached to. The file is written whole to a temporary
sibling and renamed over the old one, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engine.config import data_dir
from engine.security.private_files import ensure_private_dir, tighten

FILE_NAME = "views.json"
MAX_NAME = 64
MAX_FILTER = 2000


class ViewError(ValueError):
    """A view name or filter that cannot be stored, or a file that cannot be read."""


@dataclass(frozen=True)
class SavedView:
    """A named filter text."""

    name: str
    filter: str


def views_path() -> Path:
    """Where the views are kept: ``<data dir>/views.json``."""
    return data_dir() / FILE_NAME


def load_views(path: Path | None = None) -> list[SavedView]:
    """Every saved view, by name (none when the file does not exist yet)."""
    target = path or views_path()
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    tighten(target)
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ViewError(f"{target}: not JSON ({exc})") from None
    stored = document.get("views") if isinstance(document, dict) else None
    if not isinstance(stored, dict):
        raise ViewError(f'{target}: expected {{"views": {{NAME: FILTER, …}}}}')
    return [
        SavedView(name, text)
        for name, text in sorted(stored.items())
        if isinstance(name, str) and isinstance(text, str)
    ]


def save_view(name: str, filter_text: str, path: Path | None = None) -> bool:
    """Store ``filter_text`` as ``name``; True when it replaced a view of that name."""
    name, filter_text = _checked_name(name), filter_text.strip()
    if not filter_text:
        raise ViewError("the filter is empty")
    if len(filter_text) > MAX_FILTER or not filter_text.isprintable():
        raise ViewError(f"the filter must be printable text of at most {MAX_FILTER} characters")
    views = {view.name: view.filter for view in load_views(path)}
    replaced = name in views
    views[name] = filter_text
    _write(views, path or views_path())
    return replaced


def delete_view(name: str, path: Path | None = None) -> bool:
    """Forget the view ``name``; False when there was none."""
    views = {view.name: view.filter for view in load_views(path)}
    if views.pop(name, None) is None:
        return False
    _write(views, path or views_path())
    return True


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ViewError(f"a view name is printable text of 1 to {MAX_NAME} characters")
    return name


def _write(views: dict[str, str], target: Path) -> None:
    directory = ensure_private_dir(target.parent)
    # mkstemp creates the file 0600 whatever the umask.
    fd, temporary = tempfile.mkstemp(prefix=".views-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump({"views": dict(sorted(views.items()))}, file, indent=2, ensure_ascii=False)
            file.write("\n")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
