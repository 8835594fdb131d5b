"""Which migration this version needs, and whether a database is at it, without Alembic.

Importing the revision files through Alembic would load Alembic, SQLAlchemy and every
model: the bulk of a small command's start. Their ``revision`` / ``down_revision`` lines
answer the same question; Alembic itself answers when the text does not name exactly one
head.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Any

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.M)


@functools.cache
def head_revision() -> str | None:
    """The newest migration shipped with this version."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        try:
            revision = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found.get("down_revision", "None"))
        except (KeyError, ValueError, SyntaxError):
            continue  # not a revision file (or one spelled in a way we do not read)
        revisions.add(str(revision))
        parents.update([] if down is None else [down] if isinstance(down, str) else down)
    heads = revisions - parents
    if len(heads) == 1:
        return heads.pop()
    return _alembic_head()


def _alembic_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(bare_alembic_config()).get_current_head()


def bare_alembic_config() -> Any:
    """An Alembic Config pointing at the migrations shipped inside the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config
