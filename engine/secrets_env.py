"""``${NAME}`` references in definitions: the value lives in the environment, not the row."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class MissingSecret(Exception):
    """A definition names an environment variable that is not set."""

    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable {name} is not set")
        self.name = name


def resolve(value: str, environ: Mapping[str, str] | None = None) -> str:
    """``value`` itself, or the variable it names when it is exactly ``${NAME}``."""
    match = ENV_REFERENCE.match(value)
    if match is None:
        return value
    env = os.environ if environ is None else environ
    resolved = env.get(match.group(1))
    if resolved is None:
        raise MissingSecret(match.group(1))
    return resolved
