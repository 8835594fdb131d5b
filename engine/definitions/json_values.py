"""What JSON data from outside must satisfy before it is stored.

Values a workflow definition carries as data (an action's ``body`` or ``blocks``, a
condition's ``value``) nest at most MAX_VALUE_DEPTH levels, so that every later step —
serialising the definition to store it, comparing a value, rendering its templates —
stays far from any recursion limit. Everything stored as JSON (definitions and webhook
bodies) holds only finite numbers and strings PostgreSQL can keep: NaN, Infinity, NUL
characters and lone surrogates are refused alike on both backends.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any, Final

MAX_VALUE_DEPTH: Final = 64


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "NUL characters are not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text is not valid Unicode (lone surrogate)"
    return None


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
# Subpaths name at most this many levels, so an error message stays one short line.
_PATH_LEVELS = 10


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return _text_problem(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN and Infinity are not JSON numbers"
    return None


def json_value_problem(value: Any, limit: int | None = MAX_VALUE_DEPTH) -> tuple[str, str] | None:
    """``(subpath, why)`` for the first part of ``value`` that cannot be stored as JSON data,
    or None; ``limit`` None allows any depth. Subpaths read ``.key[2]``; they stop at a key
    that is not a short plain name, and after _PATH_LEVELS levels. An explicit stack: a
    hostile value cannot exhaust the Python stack.
    """
    problem = _scalar_problem(value)
    if problem is not None:
        return "", problem
    # (path, whether the path is still exact, container, its depth)
    stack: list[tuple[str, bool, Any, int]] = [("", True, value, 0)]
    while stack:
        path, named, item, depth = stack.pop()
        if isinstance(item, dict):
            pairs: Any = item.items()
        elif isinstance(item, list | tuple):
            pairs = enumerate(item)
        else:
            continue
        if limit is not None and depth >= limit:
            return path, f"nested deeper than {limit} levels"
        named = named and depth < _PATH_LEVELS
        for key, child in pairs:
            if isinstance(item, dict):
                plain = named and isinstance(key, str) and _NAME.fullmatch(key) is not None
                problem = _scalar_problem(key)
                if problem is not None:
                    return path, problem
                child_path = f"{path}.{key}" if plain else path
            else:
                plain, child_path = named, f"{path}[{key}]" if named else path
            if isinstance(child, dict | list | tuple):
                stack.append((child_path, plain, child, depth + 1))
                continue
            problem = _scalar_problem(child)
            if problem is not None:
                return child_path, problem
    return None


# A JSON string, escapes included; an unterminated one runs to the end of the text, even
# when the text ends in a lone backslash. A match can never fail once a quote is seen: a
# failing one would be retried from every escaped quote inside it (quadratic time; a 1 MiB
# body of escaped quotes ending in a backslash held serve's event loop for over an hour).
_STRING = re.compile(rb'"[^"\\]*(?:\\[\s\S][^"\\]*)*(?:"|\\?\Z)')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as signed bytes


def nested_deeper_than(raw: bytes, limit: int = MAX_VALUE_DEPTH) -> bool:
    """True when the JSON text ``raw`` opens more than ``limit`` arrays and objects inside
    one another — counted on the text before it is parsed, so a hostile body is refused
    without any recursion. The outermost container is level 1, as depth 0 is for
    ``json_value_problem``: both refuse the same values.

    Brackets inside strings do not count. A text that is not JSON may be counted too
    deep (an unclosed ``[[[…``): it is refused either way. About 20 ms for 1 MiB of
    brackets; a body with at most ``limit`` brackets is not scanned at all.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    try:  # json.loads reads UTF-16 and UTF-32 too; count in UTF-8, where a byte [ is a [
        encoding = json.detect_encoding(raw)
        if encoding not in ("utf-8", "utf-8-sig"):
            raw = raw.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
    except UnicodeError:
        return False  # not JSON text at all: the parser refuses it without recursing
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= limit:
        return False
    return max(accumulate(memoryview(brackets.translate(_STEPS)).cast("b"))) > limit
