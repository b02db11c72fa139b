"""The held-out check builds sloppy lazy answers from (before, after) pairs and sorts the outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decoding.lazy.heldout import judge, main, sloppy_answer

BEFORE = "import os\n\n\ndef a():\n    return 1\n\n\ndef b():\n    return 2\n\n\ndef c():\n    return 3\n"


def row(after: str, id_: str = "t/0") -> dict:
    return {"id": id_, "lang": "python", "before": BEFORE, "after": after}


def test_changed_blocks_are_shown_whole_and_unchanged_runs_become_one_glued_marker():
    after = BEFORE.replace("return 2", "return 20")
    marker = "# ... existing code ...\n"
    assert sloppy_answer(BEFORE, after, "python") == f"{marker}def b():\n    return 20\n{marker}"


def test_unparsable_pair_gives_no_answer():
    assert sloppy_answer(BEFORE, "def a(:\n", "python") is None


@pytest.mark.parametrize(
    ("after", "result"),
    [
        (BEFORE.replace("return 2", "return 20"), "exact"),
        # `b` deleted: the marker over a..c cannot say so, and b stays
        (BEFORE.replace("def b():\n    return 2\n\n\n", "").replace("return 3", "return 30"), "kept-deleted"),
        # a new function between two unchanged runs: two markers share the same code
        (BEFORE.replace("def b", "def n():\n    return 0\n\n\ndef b"), "refused"),
    ],
)
def test_outcomes(after, result):
    outcome = judge(row(after))
    assert outcome is not None and outcome.result == result


def test_pair_without_unchanged_blocks_is_not_a_lazy_answer():
    assert judge(row("x = 1\n")) is None


def test_main_counts_the_outcomes_per_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "pairs.jsonl"
    rows = [
        row(BEFORE.replace("return 2", "return 20"), "t/1"),
        row(BEFORE.replace("def b", "def n(): ...\ndef b")),
    ]
    rows.append({"id": "c/1", "lang": "c", "before": "int x;", "after": "int y;"})
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main([str(data), "--show"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pairs.jsonl: 2 lazy answers: exact 1,") and "refused 1;" in out
    assert "t/0: refused ambiguous" in out
