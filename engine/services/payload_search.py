"""Payload search: ``executions list --where 'EXPR'`` and the API's ``where=``.

EXPR is the condition language in text form: rules ``PATH OP VALUE`` joined by ``and`` /
``or`` (``and`` binds tighter). PATH starts with ``trigger.`` (the trigger data),
``result.`` (the execution's result) or is ``error``; OP is one of ``=``, ``!=``, ``>``,
``>=``, ``<``, ``<=``, ``in``, ``contains``, ``exists`` (which takes no VALUE); VALUE is a
JSON literal (``"o2"``, ``12``, ``true``, ``null``, ``["a", "b"]`` for ``in``) or a bare
word, which is a string. The text is parsed into data, never evaluated: a value is only
ever a bound parameter.

On PostgreSQL an equality on a trigger path is a JSONB containment (``@>``), which the GIN
index ``idx_execution_trigger_data`` (``jsonb_path_ops``) serves; the other operators read
the path with ``#>``. On SQLite each rule reads the path with ``json_extract``; no index
serves it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "in", "contains", "exists")
ROOTS = ("trigger", "result", "error")
MAX_RULES = 32
MAX_DEPTH = 16
_SYMBOL = re.compile(r"\s*(>=|<=|!=|=|>|<)")
_WORD = re.compile(r"\s*([^\s=!<>\"\[\]{}]+)")


class WhereError(ValueError):
    """The expression cannot be read; the message says where."""


@dataclass(frozen=True)
class Rule:
    root: str  # "trigger" | "result" | "error"
    path: tuple[str, ...]  # below the root (empty for error)
    op: str
    value: Any = None


Where = list[list[Rule]]
"""OR of ANDs: ``[[r1, r2], [r3]]`` is ``r1 and r2 or r3``."""


def _value(text: str, at: int) -> tuple[Any, int]:
    """A JSON literal or a bare word (a string) at ``at``; returns it and the next offset."""
    while at < len(text) and text[at].isspace():
        at += 1
    if at >= len(text):
        raise WhereError("a value is missing at the end")
    try:
        value, end = json.JSONDecoder().raw_decode(text, at)
    except ValueError:
        match = _WORD.match(text, at)
        if not match:
            raise WhereError(f"no value at column {at + 1}") from None
        word = match.group(1)
        if word.lower() in ("and", "or"):
            raise WhereError(f"a value is missing before {word!r} at column {at + 1}") from None
        return word, match.end()
    # "o2x" is a bare word, not the number... only whole JSON tokens count as JSON.
    if end < len(text) and not text[end].isspace():
        match = _WORD.match(text, at)
        if match and match.end() > end:
            return match.group(1), match.end()
    return value, end


def _path(word: str) -> tuple[str, tuple[str, ...]]:
    parts = word.split(".")
    root = parts[0]
    if root not in ROOTS or any(not part for part in parts):
        raise WhereError(f"{word!r}: a path starts with trigger., result. or is error")
    if root == "error" and len(parts) > 1:
        raise WhereError(f"{word!r}: error has no fields")
    if root != "error" and len(parts) == 1:
        raise WhereError(f"{word!r}: name a field, e.g. {root}.order")
    if len(parts) > MAX_DEPTH:
        raise WhereError(f"{word!r}: deeper than {MAX_DEPTH} levels")
    return root, tuple(parts[1:])


def parse_where(text: str) -> Where:
    """The expression as OR of ANDs (``WhereError`` naming the column at fault)."""
    if not text.strip():
        raise WhereError("the expression is empty")
    groups: Where = [[]]
    at, count = 0, 0
    while True:
        match = _WORD.match(text, at)
        if not match:
            raise WhereError(f"a path is missing at column {at + 1}")
        root, path = _path(match.group(1))
        at = match.end()
        symbol = _SYMBOL.match(text, at)
        word = _WORD.match(text, at)
        if symbol:
            op, at = symbol.group(1), symbol.end()
        elif word and word.group(1).lower() in ("in", "contains", "exists"):
            op, at = word.group(1).lower(), word.end()
        else:
            raise WhereError(f"an operator ({', '.join(OPERATORS)}) is missing at column {at + 1}")
        value: Any = None
        if op != "exists":
            value, at = _value(text, at)
            if op == "in" and not isinstance(value, list):
                raise WhereError('in takes a JSON list, e.g. ["a", "b"]')
            if op in (">", ">=", "<", "<=") and (
                isinstance(value, bool) or not isinstance(value, int | float | str)
            ):
                raise WhereError(f"{op} compares with a number or a string")
            if root == "error" and op not in ("=", "!=", "contains"):
                raise WhereError(f"error takes =, !=, contains or exists, not {op}")
        groups[-1].append(Rule(root, path, op, value))
        count += 1
        if count > MAX_RULES:
            raise WhereError(f"more than {MAX_RULES} rules")
        rest = _WORD.match(text, at)
        if rest is None:
            if text[at:].strip():
                raise WhereError(f"unexpected {text[at:].strip()[:20]!r} at column {at + 1}")
            return groups
        joiner = rest.group(1).lower()
        if joiner == "or":
            groups.append([])
        elif joiner != "and":
            raise WhereError(f"expected and / or at column {at + 1}, found {rest.group(1)!r}")
        at = rest.end()


def _nested(path: tuple[str, ...], value: Any) -> Any:
    for part in reversed(path):
        value = {part: value}
    return value


def _sqlite_path(path: tuple[str, ...]) -> str:
    parts = []
    for part in path:
        if part.isdigit():
            parts.append(f"[{int(part)}]")
        else:
            parts.append('."' + part.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "$" + "".join(parts)


def _sqlite_type(value: Any) -> tuple[str, ...]:
    if isinstance(value, bool):
        return ("true",) if value else ("false",)
    if value is None:
        return ("null",)
    if isinstance(value, int | float):
        return ("integer", "real")
    if isinstance(value, str):
        return ("text",)
    return ("array",) if isinstance(value, list) else ("object",)


def _sqlite_equals(column: Any, path: str, value: Any) -> sa.ColumnElement[bool]:
    kind = sa.func.json_type(column, path)
    if isinstance(value, bool) or value is None:
        return kind.in_(_sqlite_type(value))
    if isinstance(value, list | dict):
        same = sa.func.json_extract(column, path) == sa.func.json(json.dumps(value))
        return sa.and_(kind.in_(_sqlite_type(value)), same)
    return sa.and_(kind.in_(_sqlite_type(value)), sa.func.json_extract(column, path) == value)


def _rule_sqlite(rule: Rule, columns: dict[str, Any]) -> sa.ColumnElement[bool]:
    if rule.root == "error":
        return _error_rule(rule, columns["error"])
    column = columns[rule.root]
    path = _sqlite_path(rule.path)
    kind = sa.func.json_type(column, path)
    found = sa.func.json_extract(column, path)
    if rule.op == "exists":
        return kind.is_not(None)
    if rule.op == "=":
        return _sqlite_equals(column, path, rule.value)
    if rule.op == "!=":
        return sa.and_(kind.is_not(None), sa.not_(_sqlite_equals(column, path, rule.value)))
    if rule.op == "in":
        return sa.or_(sa.false(), *(_sqlite_equals(column, path, v) for v in rule.value))
    if rule.op == "contains":
        if isinstance(rule.value, str):
            text = sa.and_(kind == "text", found.ilike(_like(rule.value), escape="\\"))
        else:
            text = sa.false()
        member = sa.exists(
            sa.select(1).select_from(sa.func.json_each(column, path).table_valued("value"))
            .where(sa.literal_column("value") == rule.value)
        ) if not isinstance(rule.value, list | dict) else sa.false()  # fmt: skip
        return sa.or_(text, sa.and_(kind == "array", member))
    same_type = kind.in_(_sqlite_type(rule.value))
    return sa.and_(same_type, _compare(found, rule.op, rule.value))


def _compare(left: Any, op: str, right: Any) -> sa.ColumnElement[bool]:
    operators = {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}
    return operators[op]


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _error_rule(rule: Rule, column: Any) -> sa.ColumnElement[bool]:
    if rule.op == "exists":
        return column.is_not(None)
    value = "" if rule.value is None else str(rule.value)
    if rule.op == "=":
        return column == value
    if rule.op == "!=":
        return sa.and_(column.is_not(None), column != value)
    return column.ilike(_like(value), escape="\\")  # contains


def _rule_postgres(rule: Rule, columns: dict[str, Any]) -> sa.ColumnElement[bool]:
    if rule.root == "error":
        return _error_rule(rule, columns["error"])
    column = sa.cast(columns[rule.root], postgresql.JSONB)
    path = sa.cast(sa.literal(list(rule.path)), postgresql.ARRAY(sa.Text))
    found = column.op("#>", return_type=postgresql.JSONB)(path)

    def contains(value: Any) -> sa.ColumnElement[bool]:
        return column.contains(sa.cast(sa.literal(json.dumps(_nested(rule.path, value))),
                                       postgresql.JSONB))  # fmt: skip

    if rule.op == "exists":
        return found.is_not(None)
    if rule.op == "=":
        return contains(rule.value)
    if rule.op == "!=":
        return sa.and_(found.is_not(None), sa.not_(contains(rule.value)))
    if rule.op == "in":
        return sa.or_(sa.false(), *(contains(v) for v in rule.value))
    typeof = sa.func.jsonb_typeof(found)
    if rule.op == "contains":
        member = found.contains(sa.cast(sa.literal(json.dumps([rule.value])), postgresql.JSONB))
        text = (
            sa.and_(typeof == "string", column.op("#>>", return_type=sa.Text)(path)
                    .ilike(_like(rule.value), escape="\\"))
            if isinstance(rule.value, str) else sa.false()
        )  # fmt: skip
        return sa.or_(sa.and_(typeof == "array", member), text)
    wanted = "number" if isinstance(rule.value, int | float) else "string"
    right = sa.cast(sa.literal(json.dumps(rule.value)), postgresql.JSONB)
    return sa.and_(typeof == wanted, _compare(found, rule.op, right))


def where_clause(where: Where, dialect: str, columns: dict[str, Any]) -> sa.ColumnElement[bool]:
    """The expression as SQL for ``dialect`` over ``columns`` (``trigger``, ``result``,
    ``error``: the execution's trigger data, result and error columns)."""
    build = _rule_postgres if dialect == "postgresql" else _rule_sqlite
    return sa.or_(*(sa.and_(*(build(rule, columns) for rule in group)) for group in where))
