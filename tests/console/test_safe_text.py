"""safe_text: untrusted strings become inert Text with control characters made visible."""

from __future__ import annotations

from wfconsole.console.widgets.safe_text import clean, safe_text


def test_markup_is_kept_as_literal_text_without_styles() -> None:
    text = safe_text("[@click=app.quit]x[/] [red]markup[/red]")
    assert text.plain == "[@click=app.quit]x[/] [red]markup[/red]"
    assert text.spans == []


def test_escape_sequences_show_as_control_pictures() -> None:
    assert clean("\x1b[2J\x07") == "\u241b[2J\u2407"


def test_c1_controls_del_and_bidi_overrides_are_replaced() -> None:
    assert clean("a\x9bb\x7fc\u202ed") == "a\ufffdb\u2421c\ufffdd"


def test_single_line_text_shows_newlines_as_symbols() -> None:
    assert clean("one\ntwo") == "one\u240atwo"


def test_multiline_text_keeps_newlines_and_expands_tabs() -> None:
    assert clean("one\r\n\ttwo\x1b", multiline=True) == "one\n    two\u241b"


def test_max_length_truncates_with_an_ellipsis() -> None:
    assert safe_text("invoice-alert", max_length=8).plain == "invoice…"


def test_none_is_empty() -> None:
    assert safe_text(None).plain == ""
