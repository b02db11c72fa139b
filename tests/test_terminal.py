"""Model text printed to a terminal cannot drive it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from common.terminal import escape_controls


def test_csi_osc_and_lone_carriage_returns_are_shown_not_obeyed():
    text = "a\x1b[2Jb\x1b]0;title\x07c\rd\x9b"
    assert escape_controls(text) == "a\\x1b[2Jb\\x1b]0;title\\x07c\\x0dd\\x9b"


def test_text_layout_is_kept():
    assert escape_controls("if x:\r\n\tpass\n") == "if x:\r\n\tpass\n"
    assert escape_controls("naïve → ✓") == "naïve → ✓"


def test_bidi_overrides_are_visible():
    assert escape_controls("x = 1 \u202e# comment") == "x = 1 \\u202e# comment"


@given(st.text())
def test_no_control_character_survives(text):
    out = escape_controls(text)
    for index, char in enumerate(out):
        code = ord(char)
        assert not (code < 0x20 and char not in "\t\n\r") and not 0x7F <= code <= 0x9F
        assert char != "\r" or out[index + 1 : index + 2] == "\n"
