"""Hunks: any subset of accepted hunks must produce exactly the intended text."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vcs.hunks import Hunk, apply_hunks, compute_hunks, unified_diff

# A few distinct lines so that random texts share many lines (the interesting case for alignment), with
# CRLF endings and a possibly missing final newline.
_LINE = st.sampled_from(["a\n", "b\n", "def f():\n", "    return 1\n", "\n", "x\r\n", "}\n"])
_TEXT = st.builds(
    lambda lines, tail: "".join(lines) + tail,
    st.lists(_LINE, max_size=25),
    st.sampled_from(["", "end", "\r"]),
)


def _lines(text: str) -> list[str]:
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


def _splice(original: str, hunks: list[Hunk]) -> str:
    """Reference: splice the chosen hunks into the original line list, last first (no running offset)."""
    lines = _lines(original)
    for hunk in reversed(hunks):
        lines[hunk.old_start : hunk.old_start + len(hunk.old_lines)] = hunk.new_lines
    return "".join(lines)


@given(_TEXT, _TEXT, st.integers(0, 3))
def test_accept_all_gives_proposal_and_none_gives_original(
    original: str, proposal: str, context: int
) -> None:
    hunks = compute_hunks(original, proposal, context)
    assert apply_hunks(original, hunks, {h.id for h in hunks}) == proposal
    assert apply_hunks(original, hunks, set()) == original
    assert (hunks == []) == (original == proposal)


@given(_TEXT, _TEXT, st.data())
def test_any_subset_applies_exactly_those_hunks(original: str, proposal: str, data: st.DataObject) -> None:
    hunks = compute_hunks(original, proposal)
    chosen = data.draw(st.lists(st.sampled_from(hunks), unique=True) if hunks else st.just([]))
    chosen_in_order = [h for h in hunks if h in chosen]
    result = apply_hunks(original, hunks, {h.id for h in chosen})
    assert result == _splice(original, chosen_in_order)
    # Re-diffing may align ambiguous lines differently (difflib is heuristic), but the changed line
    # count must add up: every chosen hunk's delta and nothing else.
    delta = sum(len(h.new_lines) - len(h.old_lines) for h in chosen)
    assert len(_lines(result)) == len(_lines(original)) + delta
    # Accepting the rest afterwards (diffed against the partial result) always reaches the proposal.
    rest = compute_hunks(result, proposal)
    assert apply_hunks(result, rest, {h.id for h in rest}) == proposal


@given(_TEXT, _TEXT)
def test_hunks_are_ordered_disjoint_nonempty_and_ids_stable(original: str, proposal: str) -> None:
    hunks = compute_hunks(original, proposal)
    assert [h.id for h in hunks] == [h.id for h in compute_hunks(original, proposal)]
    assert len({h.id for h in hunks}) == len(hunks)
    end = -1
    for hunk in hunks:
        assert hunk.old_lines != hunk.new_lines
        assert hunk.old_start > end  # at least one unchanged line between hunks
        end = hunk.old_start + len(hunk.old_lines)


def test_hunk_fields_and_unified_text() -> None:
    original = "one\ntwo\nthree\nfour\n"
    proposal = "one\n2\nthree\nfour\nfive"
    first, second = compute_hunks(original, proposal)
    assert (first.old_start, first.old_lines, first.new_start, first.new_lines) == (
        1,
        ("two\n",),
        1,
        ("2\n",),
    )
    assert (second.old_start, second.old_lines, second.new_lines) == (4, (), ("five",))
    assert first.unified() == "@@ -2,1 +2,1 @@\n-two\n+2\n"
    assert second.unified() == "@@ -4,0 +5,1 @@\n+five\n\\ No newline at end of file\n"
    assert apply_hunks(original, [first, second], {second.id}) == "one\ntwo\nthree\nfour\nfive"


def test_context_merges_nearby_changes_and_keeps_unchanged_lines() -> None:
    original = "a\nb\nc\nd\ne\n"
    proposal = "A\nb\nc\nD\ne\n"
    assert len(compute_hunks(original, proposal)) == 2
    (merged,) = compute_hunks(original, proposal, context=1)
    assert merged.old_lines == ("a\n", "b\n", "c\n", "d\n", "e\n")
    assert merged.unified().splitlines()[1:] == ["-a", "+A", " b", " c", "-d", "+D", " e"]


def test_stale_hunks_are_refused() -> None:
    hunks = compute_hunks("a\nb\n", "a\nB\n")
    with pytest.raises(ValueError, match="does not apply"):
        apply_hunks("a\nc\n", hunks, {h.id for h in hunks})
    with pytest.raises(ValueError, match="context"):
        compute_hunks("a", "b", context=-1)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@settings(max_examples=25, deadline=None)
@given(_TEXT, _TEXT)
def test_unified_diff_is_accepted_by_git_apply(
    tmp_path_factory: pytest.TempPathFactory, original: str, proposal: str
):
    folder: Path = tmp_path_factory.mktemp("apply")
    (folder / "f.txt").write_bytes(original.encode())
    patch = unified_diff(original, proposal, "f.txt")
    assert (patch == "") == (original == proposal)
    if patch:
        subprocess.run(["git", "apply", "-"], cwd=folder, input=patch.encode(), check=True)
    assert (folder / "f.txt").read_bytes().decode() == proposal
