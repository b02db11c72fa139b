"""Prompt lookup: longest n-gram match, position awareness, generated-text fallback."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from decoding.engine.lookup import PromptLookup


def test_empty_context_proposes_the_start_of_the_file() -> None:
    lookup = PromptLookup([1, 2, 3, 4, 5])
    assert lookup.propose([], 3) == [1, 2, 3]
    assert lookup.propose([], 0) == []


def test_longest_match_wins() -> None:
    #            0  1  2  3  4  5  6  7
    original = [9, 1, 2, 7, 3, 1, 2, 8]
    lookup = PromptLookup(original, position_aware=False)
    assert lookup.propose([1, 2], 1) == [7]  # first occurrence of the bigram
    assert lookup.propose([3, 1, 2], 1) == [8]  # the trigram only matches the second one


def test_position_aware_prefers_the_occurrence_after_the_cursor() -> None:
    # A repeated line: `return x` appears twice; the copy is past the first one.
    original = [10, 20, 30, 10, 20, 31]
    aware = PromptLookup(original)
    first = PromptLookup(original, position_aware=False)
    assert aware.propose([10], 2) == [20, 30]  # cursor 0: the first occurrence is the next one
    aware.cursor = 3  # copied up to position 3
    assert aware.propose([10], 2) == [20, 31]
    assert first.propose([10], 2) == [20, 30]


def test_cursor_follows_accepted_matches_and_falls_back_behind() -> None:
    original = [1, 2, 3, 1, 2, 4]
    lookup = PromptLookup(original)
    assert lookup.propose([5, 1, 2, 4], 2) == []  # the 4 ends the file: nothing to continue with
    assert lookup.propose([3, 1], 2) == [2, 4]
    assert lookup.cursor == 4
    assert lookup.propose([2], 1) == [4]  # the `2` at or after the cursor, not the first one
    lookup.cursor = 6  # past the end: the nearest occurrence behind is taken
    assert lookup.propose([1], 1) == [2]
    assert lookup.cursor == 4


def test_tentative_queries_leave_the_cursor_alone() -> None:
    lookup = PromptLookup([1, 2, 3, 4, 1, 2, 5])
    lookup.propose([3, 4, 1], 2, advance=False)
    assert lookup.cursor == 0


def test_generated_text_is_the_fallback() -> None:
    lookup = PromptLookup([100, 101], max_n=3)
    lookup.extend([7, 8, 9, 7, 8])
    assert lookup.propose([7, 8], 3) == [9, 7, 8]  # continues the earlier repetition in the output
    assert lookup.propose([42], 3) == []
    lookup.extend([6])
    assert lookup.propose([8], 1) == [6]  # the most recent repetition wins


def test_min_ngram_size_is_respected() -> None:
    lookup = PromptLookup([1, 2, 3], min_n=2)
    assert lookup.propose([9, 1], 1) == []
    assert lookup.propose([1, 2], 1) == [3]


@given(
    original=st.lists(st.integers(0, 5), max_size=40),
    generated=st.lists(st.integers(0, 5), max_size=20),
    count=st.integers(1, 10),
    aware=st.booleans(),
)
def test_proposals_continue_a_real_occurrence(
    original: list[int], generated: list[int], count: int, aware: bool
) -> None:
    lookup = PromptLookup(original, max_n=4, position_aware=aware)
    lookup.extend(generated)
    suffix = generated[-4:]
    proposal = lookup.propose(suffix, count)
    assert len(proposal) <= count
    if not suffix:
        assert proposal == original[:count]
        return
    if proposal:
        haystacks = [original, generated]
        # Some n >= 1 of the suffix occurs in original or generated text followed by the proposal.
        assert any(
            h[i - n : i] == suffix[-n:] and h[i : i + len(proposal)] == proposal
            for h in haystacks
            for n in range(1, len(suffix) + 1)
            for i in range(n, len(h))
        )
    else:
        continuable = set(original[:-1]) | set(generated[:-1])
        assert suffix[-1] not in continuable
