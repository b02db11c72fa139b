"""A marker that spans a block the answer may have rewritten is reported, down to the review."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from decoding.lazy.merge import merge_lazy
from decoding.request import EditRequest
from decoding.session import Proposal, propose_edit
from tests.scripted_backend import ScriptedBackend

PY = "from typing import List\n\n\ndef all_prefixes(s: str) -> List[str]:\n    return [s[:1], s]\n"
REWRITE = "# ... existing code ...\n\n\ndef all_suffixes(s: str) -> List[str]:\n    return [s[1:], s]\n"


def test_marker_next_to_a_new_function_names_the_functions_it_kept():
    merged = merge_lazy(PY, REWRITE, "python")
    assert merged.text == PY + REWRITE.removeprefix("# ... existing code ...\n")  # the old one is kept
    [note] = merged.notes
    assert "line 1 of the answer" in note and "original lines 1-5" in note
    assert "function `all_prefixes`" in note and "function `all_suffixes`" in note


@pytest.mark.parametrize(
    "answer",
    [
        "# ... existing code ...\ndef all_prefixes(s: str) -> List[str]:\n    return []\n",  # matched by name
        "import re\n# ... existing code ...\n",  # a new import is an addition
        "# ... existing code ...\nLIMIT = 3\n",  # not a kind the marker stands for
        "# ... existing code ...\n",
    ],
)
def test_no_note_when_nothing_new_could_replace_what_a_marker_kept(answer):
    assert merge_lazy(PY, answer, "python").notes == ()


def test_javascript_class_next_to_a_marker_over_functions_is_noted():
    original = "function poly(xs, x) {\n  return 0;\n}\n\nfunction zero(xs) {\n  return 1;\n}\n"
    answer = "// ... existing code ...\nclass Solver {\n  zero(xs) {\n    return 1;\n  }\n}\n"
    [note] = merge_lazy(original, answer, "javascript").notes
    assert "function `poly`, function `zero`" in note and "class `Solver`" in note


def test_go_new_method_next_to_a_marker_over_methods_is_noted():
    methods = "func (t T) A() int {\n\treturn 1\n}\n\nfunc (t T) B() int {\n\treturn 2\n}\n"
    original = f"package p\n\ntype T struct{{}}\n\n{methods}"
    answer = "// ... existing code ...\nfunc (t T) C() int {\n\treturn 3\n}\n"
    [note] = merge_lazy(original, answer, "go").notes
    assert "original lines 1-11" in note and "method `(t T).A`, method `(t T).B`" in note
    assert "method `(t T).C`" in note


def test_python_method_next_to_a_marker_inside_a_class_is_noted():
    original = "class A:\n    def f(self):\n        return 1\n\n    def g(self):\n        return 2\n"
    answer = "class A:\n    # ... existing code ...\n    def h(self):\n        return 3\n"
    merged = merge_lazy(original, answer, "python")
    assert merged.text == original + "\n    def h(self):\n        return 3\n"
    [note] = merged.notes
    assert "line 2 of the answer" in note and "original lines 2-6" in note and "function `g`" in note


def test_the_review_gets_the_note_with_the_proposal():
    request = EditRequest(path="m.py", original=PY, instruction="add all_suffixes")
    events = list(propose_edit(ScriptedBackend([REWRITE + "```\n"]), request, "lazy"))
    proposal = events[-1]
    assert isinstance(proposal, Proposal) and proposal.format_used == "lazy"
    assert proposal.note is not None and "function `all_prefixes`" in proposal.note


def test_merge_command_prints_the_note_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original, answer = tmp_path / "m.py", tmp_path / "answer.txt"
    original.write_text(PY)
    answer.write_text(REWRITE)
    assert main(["merge", str(original), str(answer)]) == 0
    captured = capsys.readouterr()
    assert captured.out == merge_lazy(PY, REWRITE, "python").text
    assert "specedit merge: note: " in captured.err and "function `all_prefixes`" in captured.err
