"""Prompts and answer extraction: a faithful answer always comes back whole, anything else is refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoding.prompts import (
    NoFileBlock,
    chat_messages,
    extract_file,
    fence_for,
    language_for,
    render_prompt,
)
from decoding.request import EditRequest
from tests.tiny_models import make_byte_tokenizer

DOCSTRING_FILE = '''def render(items):
    """Render items as Markdown.

    Example::

        ```python
        render([1, 2])
        ```
    """
    return "\\n".join(f"- {item}" for item in items)
'''

MARKDOWN_FILE = """# Notes

1. Install:

   ```bash
   pip install specedit
   ```

2. Run it.
"""


def faithful_answer(original: str) -> str:
    """What a model that copies the file exactly writes after the pre-filled opening fence."""
    body = original if original.endswith("\n") or not original else original + "\n"
    return f"{body}{fence_for(original)}\n"


def test_extract_stops_at_closing_fence_and_keeps_newline_convention():
    assert extract_file("a = 1\nb = 2\n```\nchatter", "a = 1\n") == "a = 1\nb = 2\n"
    assert extract_file("a = 1\n```", "x") == "a = 1"
    assert extract_file("a = 1\n```\n", "x\n") == "a = 1\n"
    assert extract_file("```\n", "x = 1\n") == ""  # an emptied file is a file


def test_answer_without_closing_fence_is_refused_with_its_text():
    with pytest.raises(NoFileBlock) as refused:
        extract_file("I'm sorry, but I can't help with that.", "x = 1\n")
    assert refused.value.answer == "I'm sorry, but I can't help with that."
    with pytest.raises(NoFileBlock):
        extract_file("a = 1\nb = 2\n", "a = 1\n")  # the budget ended it before the fence


@pytest.mark.parametrize("original", [DOCSTRING_FILE, MARKDOWN_FILE], ids=["docstring", "markdown"])
def test_indented_fence_in_the_file_does_not_truncate_a_faithful_answer(original):
    assert fence_for(original) == "````"
    assert extract_file(faithful_answer(original), original) == original


def test_fence_is_longer_than_any_backtick_run_anywhere():
    assert fence_for("x = 1\n") == "```"
    assert fence_for("s = '``````'  # inline\n") == "```````"
    assert fence_for("    ````\n") == "`````"


def test_chatter_before_the_models_own_block_is_skipped():
    original = "x = 1\n"
    assert extract_file("Here is the updated file:\n```python\nx = 2\n```\n", original) == "x = 2\n"
    assert extract_file("Sure!\n\n```\nx = 2\n```\nHope it helps", original) == "x = 2\n"


def test_a_first_line_of_the_file_is_never_taken_for_chatter():
    original = "Intro\n```\ncode\n```\n"  # Markdown whose first line precedes a block
    answer = "Intro\n```\ncode\n```\nMore\n````\n"
    assert extract_file(answer, original) == "Intro\n```\ncode\n```\nMore\n"


def test_crlf_file_keeps_its_line_endings_when_the_model_writes_lf():
    original = "a = 1\r\nb = 2\r\n"
    assert extract_file("a = 1\nb = 3\n```\n", original) == "a = 1\r\nb = 3\r\n"
    assert extract_file("a = 1\r\nb = 3\r\n```\r\n", original) == "a = 1\r\nb = 3\r\n"
    assert extract_file("a = 1\nb = 3\n```\n", "a = 1\r\nb = 2") == "a = 1\r\nb = 3"


def test_files_with_mixed_line_ends_are_left_as_written():
    assert extract_file("a\r\nb\n```\n", "a\r\nc\n") == "a\r\nb\n"


def test_prompt_prefills_fence_and_contains_file():
    req = EditRequest(path="pkg/m.py", original="x = 1", instruction="rename x to y")
    text = render_prompt(make_byte_tokenizer(), req)
    assert text.endswith("<|im_start|>assistant\n```python\n")
    assert "x = 1\n```" in text and "rename x to y" in text


def test_continuation_prompt_ends_with_the_answer_so_far():
    req = EditRequest(path="m.py", original="x = 1\n", instruction="i", prefix="x = 2\ny")
    assert render_prompt(make_byte_tokenizer(), req).endswith("assistant\n```python\nx = 2\ny")


def test_lazy_prompt_names_the_language_marker():
    msgs = chat_messages(EditRequest(path="a.css", original="a{}", instruction="i", format="lazy"))
    assert "/* ... existing code ... */" in msgs[0]["content"]
    assert language_for("x.RS") == "rust" and language_for("Makefile") == ""


# Files are mostly code-like lines, with the characters that broke extraction before over-represented.
_PIECE = st.sampled_from([*"ab `\t#\"'-*\r\u2028\x0c", "```", "    ```", "Here is the file:"])
_LINE = st.lists(_PIECE, max_size=6).map("".join)
_FILE = st.lists(_LINE, max_size=12).flatmap(
    lambda lines: (
        st.sampled_from(["\n", "\r\n"]).map(lambda end: end.join(lines)) | st.just("\n".join(lines) + "\n")
    )
)


@settings(max_examples=300, deadline=None)
@given(original=st.one_of(_FILE, st.text(max_size=60)))
def test_any_file_round_trips_prompt_to_faithful_answer_to_extract(original):
    fence = fence_for(original)
    user = chat_messages(EditRequest(path="f.md", original=original, instruction="i"))[1]["content"]
    shown = user.split(f"{fence}markdown\n", 1)[1]
    assert shown.rsplit(fence, 1)[0] == (
        original if original.endswith("\n") or not original else original + "\n"
    )
    assert extract_file(faithful_answer(original), original) == original


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.text(alphabet=st.sampled_from(list("ab `#\t")), max_size=8), min_size=1, max_size=8))
def test_crlf_file_answered_in_lf_round_trips(lines):
    original = "\r\n".join(lines) + "\r\n"
    answer = "\n".join(lines) + "\n" + fence_for(original) + "\n"
    assert extract_file(answer, original) == original
