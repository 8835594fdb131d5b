"""Hypothesis strategies for workflow definitions: arbitrary JSON, and near-valid documents
made by mutating the contract example (wrong types, missing keys, huge or negative
numbers, odd unicode, deep nesting, huge arrays)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from tests.test_definition import example_document

JsonPath = tuple[str | int, ...]
MAX_PLACES = 500


def nested(depth: int, leaf: Any = 1, *, as_object: bool = False) -> Any:
    """``leaf`` wrapped in ``depth`` arrays (or objects), built without recursion."""
    value = leaf
    for _ in range(depth):
        value = {"a": value} if as_object else [value]
    return value


def json_values(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    """Any JSON value (Python floats include NaN and Infinity, which json.loads also reads)."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=6)
            | st.dictionaries(st.text(max_size=12), children, max_size=6)
        ),
        max_leaves=max_leaves,
    )


HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        " padded ",
        "\x00",
        "a\x00b",
        "\ud800",
        "\x1b[31mred\x1b[0m",
        "\u202eevil",
        "名前",
        "🙂" * 50,
        "{{ trigger.__class__.__mro__ }}",
        "{{ trigger.id }}",
        "{{",
        "}}",
        "{% for x in y %}",
        "${INVOICE_HOOK_SECRET}",
        "${" + "A" * 5000 + "}",
        "a" * 100_000,
        "a@" + "a." * 20_000 + " ",
        "+1555" + "0" * 50_000,
        "http://[::1",
        "http://x:99999999/",
        "javascript:alert(1)",
        "0 0 31 2 *",
        "*/0 * * * *",
        "Europe/" + "x" * 5000,
        "../../etc/passwd",
    ]
)

HUGE_NUMBERS = st.sampled_from(
    [-1, 0, 2**31, 2**63, -(2**63) - 1, 10**4000, -(10**4000), 1e308, -1e308, 5e-324, -0.0]
) | st.floats(allow_nan=True, allow_infinity=True)

HOSTILE_VALUES: st.SearchStrategy[Any] = st.one_of(
    HOSTILE_TEXT,
    HUGE_NUMBERS,
    st.integers(),
    st.text(max_size=60),
    st.builds(nested, st.integers(1, 1500), as_object=st.booleans()),
    st.integers(1000, 20_000).map(lambda n: [1] * n),
    # Fresh objects, not ``[{...}] * n``: an edit to one shared object would multiply.
    st.integers(100, 2000).map(lambda n: [{"type": "manual"} for _ in range(n)]),
    json_values(),
)


def container_paths(document: Any) -> list[JsonPath]:
    """The path of every object and array in ``document``, the root first."""
    paths: list[JsonPath] = []
    stack: list[tuple[JsonPath, Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            paths.append(path)
            stack.extend(((*path, key), child) for key, child in value.items())
        elif isinstance(value, list):
            paths.append(path)
            stack.extend(((*path, index), child) for index, child in enumerate(value))
    # Shallow places first; past MAX_PLACES the deep tail of a huge value is left alone.
    return sorted(paths, key=lambda p: (len(p), repr(p)))[:MAX_PLACES]


def _at(document: Any, path: JsonPath) -> Any:
    for part in path:
        document = document[part]
    return document


@st.composite
def mutated_definitions(draw: st.DrawFn) -> dict[str, Any]:
    """The contract example with one to four hostile edits at random places."""
    document: dict[str, Any] = copy.deepcopy(_EXAMPLE)
    for _ in range(draw(st.integers(1, 4))):
        paths = container_paths(document)
        if not paths:
            break
        container = _at(document, draw(st.sampled_from(paths)))
        edit = draw(st.sampled_from(["replace", "replace", "delete", "add", "append"]))
        if isinstance(container, dict):
            keys = list(container)
            if edit == "delete" and keys:
                del container[draw(st.sampled_from(keys))]
            elif edit in ("add", "append") or not keys:
                key = draw(st.text(max_size=20) | st.sampled_from(["type", "path", "op", "all"]))
                container[key] = draw(HOSTILE_VALUES)
            else:
                container[draw(st.sampled_from(keys))] = draw(HOSTILE_VALUES)
        else:
            if edit == "delete" and container:
                del container[draw(st.integers(0, len(container) - 1))]
            elif edit in ("add", "append") or not container:
                container.append(draw(HOSTILE_VALUES))
            else:
                container[draw(st.integers(0, len(container) - 1))] = draw(HOSTILE_VALUES)
    return document


_EXAMPLE = example_document()
