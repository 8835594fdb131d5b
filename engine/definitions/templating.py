"""Safe templates: ``{{ dotted.path }}`` substitution into the execution context, never code.

A template names a value by a dotted path (``trigger.items.0.sku``) under one of the
context roots; nothing else inside ``{{ }}`` is accepted, so no filter, call, index
expression or attribute lookup can ever run. ``${7*7}`` and other non-``{{`` text is literal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

ROOTS: Final = ("trigger", "workflow", "execution", "steps")

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
# One grammar for template paths and condition paths. Each repetition starts with a dot,
# so the pattern is unambiguous and matches in linear time.
PATH_PATTERN: Final = rf"{_IDENTIFIER}(?:\.(?:{_IDENTIFIER}|[0-9]+))*"
_PATH_RE: Final = re.compile(PATH_PATTERN)
# `[^{}]*` stops at the next brace, so no scan ever runs past it: linear on hostile input.
_TEMPLATE_RE: Final = re.compile(r"\{\{(?P<inner>[^{}]*)\}\}|\{\{")
_STATEMENT_RE: Final = re.compile(r"\{[%#]")
_SNIPPET_MAX: Final = 60
# Longer strings are parsed every time rather than pinned in the cache.
_CACHE_MAX_TEXT: Final = 4096
_MAX_INDEX_DIGITS: Final = 18
_KEY_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,59}")


class TemplateError(ValueError):
    """A string holds template syntax that is not a plain ``{{ dotted.path }}``."""


class MissingPath(TemplateError):
    """A path names nothing in the context (missing key, index out of range, or a scalar)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)  # both in args, so the error pickles and unpickles
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"missing value for {self.path!r}: {self.reason}"


class _Missing:
    """Type of the MISSING sentinel; reads as ``<missing>`` in traces and logs."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class TemplatePath:
    """A parsed ``{{ path }}``: its text and its segments."""

    path: str
    segments: tuple[str, ...]


TemplatePart = str | TemplatePath


def _snippet(text: str) -> str:
    if len(text) > _SNIPPET_MAX:
        text = text[: _SNIPPET_MAX - 1] + "…"
    return repr(text)


def _checked_segments(path: str, noun: str) -> tuple[str, ...]:
    segments = tuple(path.split("."))
    if segments[0] not in ROOTS:
        raise TemplateError(
            f"unknown {noun} root {_snippet(segments[0])} (expected one of {', '.join(ROOTS)})"
        )
    for segment in segments[1:]:
        if segment.startswith("_"):
            raise TemplateError(
                f"private name {_snippet(segment)} in path {_snippet(path)} "
                "(names starting with '_' are not allowed)"
            )
    return segments


def _parse_path(path: str) -> tuple[str, ...]:
    if _PATH_RE.fullmatch(path) is None:
        raise TemplateError(f"not a plain dotted path: {_snippet(path)}")
    return _checked_segments(path, "path")


_parse_path_cached = lru_cache(maxsize=1024)(_parse_path)


def parse_path(path: str) -> tuple[str, ...]:
    """Split ``root.key.0`` into segments; refuse bad syntax, unknown roots and ``_`` names."""
    if len(path) <= _CACHE_MAX_TEXT:
        return _parse_path_cached(path)
    return _parse_path(path)


def _parse_template(text: str) -> tuple[TemplatePart, ...]:
    parts: list[TemplatePart] = []
    position = 0
    for match in _TEMPLATE_RE.finditer(text):
        start = match.start()
        inner = match.group("inner")
        if inner is None:
            end = text.find("}}", start + 2)
            if end == -1:
                snippet = _snippet(text[start : start + _SNIPPET_MAX + 1])
                raise TemplateError(f"unclosed '{{{{' in template: {snippet}")
            snippet = _snippet(text[start : min(end + 2, start + _SNIPPET_MAX + 1)])
            raise TemplateError(f"template is not a plain dotted path: {snippet}")
        path = inner.strip()
        if _PATH_RE.fullmatch(path) is None:
            raise TemplateError(f"template is not a plain dotted path: {_snippet(match[0])}")
        if start > position:
            parts.append(text[position:start])
        parts.append(TemplatePath(path, _checked_segments(path, "template")))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    return tuple(parts)


_parse_template_cached = lru_cache(maxsize=2048)(_parse_template)


def parse_template(text: str) -> tuple[TemplatePart, ...]:
    """Split text into literal strings and TemplatePaths; raise TemplateError on bad ``{{``."""
    if "{{" not in text:
        return (text,) if text else ()
    if len(text) <= _CACHE_MAX_TEXT:
        return _parse_template_cached(text)
    return _parse_template(text)


def check_template(text: str) -> None:
    """Raise TemplateError unless every template-like part of text is a plain dotted path."""
    statement = _STATEMENT_RE.search(text)
    if statement is not None:
        start = statement.start()
        raise TemplateError(
            "template statements and comments ('{%', '{#') are not allowed: "
            f"{_snippet(text[start : start + _SNIPPET_MAX + 1])}"
        )
    parse_template(text)


def find_template_errors(value: Any) -> list[tuple[str, str]]:
    """Check every string in a JSON value; return (subpath like ``.body.id`` / ``[0]``, message)."""
    errors: list[tuple[str, str]] = []
    # An explicit stack: a deeply nested payload cannot exhaust the Python stack.
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        subpath, item = stack.pop()
        if isinstance(item, str):
            try:
                check_template(item)
            except TemplateError as error:
                errors.append((subpath, str(error)))
        elif isinstance(item, dict):
            # A key that is not a plain name ("", "a.b", "x: y") would blur the path:
            # the error is reported at its object instead.
            stack.extend(
                (f"{subpath}.{key}" if _KEY_NAME.fullmatch(str(key)) else subpath, child)
                for key, child in reversed(item.items())
            )
        elif isinstance(item, list):
            stack.extend((f"{subpath}[{i}]", item[i]) for i in range(len(item) - 1, -1, -1))
    return errors


def _list_index(segment: str) -> int:
    # Very long digit strings are out of range anyway (and int() would refuse them).
    if segment[0].isdigit() and len(segment) <= _MAX_INDEX_DIGITS:
        return int(segment)
    return -1


def _walk(context: Mapping[str, Any], segments: tuple[str, ...]) -> tuple[Any, int]:
    """Return (value, -1), or (MISSING, index of the first segment that names nothing)."""
    current: Any = context
    for index, segment in enumerate(segments):
        if isinstance(current, Mapping):
            if segment in current:
                current = current[segment]
                continue
        elif isinstance(current, list | tuple):
            position = _list_index(segment)
            if 0 <= position < len(current):
                current = current[position]
                continue
        return MISSING, index
    return current, -1


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def _missing_reason(context: Mapping[str, Any], segments: tuple[str, ...], index: int) -> str:
    segment = segments[index]
    if index == 0:
        return f"{segment!r} is not in the context"
    parent_path = ".".join(segments[:index])
    parent, _ = _walk(context, segments[:index])
    if isinstance(parent, Mapping):
        return f"{parent_path!r} has no key {segment!r}"
    if isinstance(parent, list | tuple):
        if segment[0].isdigit():
            return f"{parent_path!r} has {len(parent)} items, so no index {_snippet(segment)}"
        return f"{parent_path!r} is a list, so {segment!r} must be a number"
    return f"{parent_path!r} is {_kind_of(parent)}, not an object or a list"


def _resolve_segments(context: Mapping[str, Any], path: str, segments: tuple[str, ...]) -> Any:
    value, failed_at = _walk(context, segments)
    if failed_at >= 0:
        raise MissingPath(path, _missing_reason(context, segments, failed_at))
    return value


def resolve_path(context: Mapping[str, Any], path: str) -> Any:
    """Return the value at a dotted path; raise MissingPath naming the path when absent."""
    return _resolve_segments(context, path, parse_path(path))


def lookup(context: Mapping[str, Any], path: str, default: Any = MISSING) -> Any:
    """Return the value at a dotted path, or ``default`` (MISSING) when absent."""
    value, failed_at = _walk(context, parse_path(path))
    return default if failed_at >= 0 else value


def value_as_text(value: Any) -> str:
    """Text for a substituted value: None is empty, booleans are JSON, objects compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return str(value)


def _render_parts(parts: tuple[TemplatePart, ...], context: Mapping[str, Any]) -> str:
    return "".join(
        part
        if isinstance(part, str)
        else value_as_text(_resolve_segments(context, part.path, part.segments))
        for part in parts
    )


def render_text(text: str, context: Mapping[str, Any]) -> str:
    """Substitute every ``{{ path }}`` in text; raise MissingPath when a path is absent."""
    if "{{" not in text:
        return text
    return _render_parts(parse_template(text), context)


def render_with_literals(
    text: str, context: Mapping[str, Any], literal: Callable[[str], str]
) -> str:
    """Like ``render_text``, with ``literal`` applied to the template's own literal parts only.

    What a ``{{ path }}`` produces is data and never passes through ``literal``: this is how
    secret references are taken from a definition's text and never from trigger data.
    """
    return "".join(
        literal(part)
        if isinstance(part, str)
        else value_as_text(_resolve_segments(context, part.path, part.segments))
        for part in parse_template(text)
    )


def _sole_path(parts: tuple[TemplatePart, ...]) -> TemplatePath | None:
    paths = [part for part in parts if isinstance(part, TemplatePath)]
    if len(paths) != 1:
        return None
    if any(isinstance(part, str) and part.strip() for part in parts):
        return None
    return paths[0]


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render templates in a JSON value; a string that is one template keeps the value's type."""
    if isinstance(value, str):
        if "{{" not in value:
            return value
        parts = parse_template(value)
        sole = _sole_path(parts)
        if sole is not None:
            return _resolve_segments(context, sole.path, sole.segments)
        return _render_parts(parts, context)
    if isinstance(value, dict):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    return value
