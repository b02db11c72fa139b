from decoding.prompts import chat_messages, extract_file, language_for, render_prompt
from decoding.request import EditRequest
from tests.tiny_models import make_byte_tokenizer


def test_extract_stops_at_closing_fence_and_keeps_newline_convention():
    assert extract_file("a = 1\nb = 2\n```\nchatter", "a = 1\n") == "a = 1\nb = 2\n"
    assert extract_file("a = 1\n```", "x") == "a = 1"
    assert extract_file("a = 1", "x\n") == "a = 1\n"  # budget hit before the fence: keep it all


def test_prompt_prefills_fence_and_contains_file():
    req = EditRequest(path="pkg/m.py", original="x = 1", instruction="rename x to y")
    text = render_prompt(make_byte_tokenizer(), req)
    assert text.endswith("<|im_start|>assistant\n```python\n")
    assert "x = 1\n```" in text and "rename x to y" in text


def test_lazy_prompt_names_the_language_marker():
    msgs = chat_messages(EditRequest(path="a.css", original="a{}", instruction="i", format="lazy"))
    assert "/* ... existing code ... */" in msgs[0]["content"]
    assert language_for("x.RS") == "rust" and language_for("Makefile") == ""
