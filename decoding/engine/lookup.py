"""Prompt lookup (PLD): propose the continuation of the context's suffix where it occurs before.

The original file is indexed once (n-gram -> sorted end positions) and the generated tokens are
indexed as they are committed, so a proposal costs at most ``max_n`` dict lookups, independent of the
context length. Position awareness: an edit walks through the original in order, so among the
occurrences of the matched n-gram the one at or after the last copied position (the *cursor*) wins
over the first one in the file; repeated lines (``return None``, closing braces) otherwise send the
copy back to the top of the file.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

NgramIndex = dict[tuple[int, ...], list[int]]


def _index_ngrams(index: NgramIndex, tokens: Sequence[int], end: int, min_n: int, max_n: int) -> None:
    """Record every n-gram that ends right before position ``end`` of ``tokens``."""
    for n in range(min_n, min(max_n, end) + 1):
        index.setdefault(tuple(tokens[end - n : end]), []).append(end)


class PromptLookup:
    def __init__(
        self, original: Sequence[int], min_n: int = 1, max_n: int = 10, position_aware: bool = True
    ) -> None:
        self.original = list(original)
        self.min_n, self.max_n = min_n, max_n
        self.position_aware = position_aware
        self.cursor = 0  # position in the original right after the last copied token
        self._orig_index: NgramIndex = {}
        # An n-gram ending at the very end of the original has no continuation to propose.
        for end in range(1, len(self.original)):
            _index_ngrams(self._orig_index, self.original, end, min_n, max_n)
        self.generated: list[int] = []
        self._gen_index: NgramIndex = {}

    def extend(self, tokens: Sequence[int]) -> None:
        """Commit generated tokens (only accepted ones: drafts come and go)."""
        for token in tokens:
            end = len(self.generated)
            if end:  # the n-grams ending at the previous token now have a continuation
                _index_ngrams(self._gen_index, self.generated, end, self.min_n, self.max_n)
            self.generated.append(token)

    def propose(self, suffix: Sequence[int], count: int, advance: bool = True) -> list[int]:
        """Up to ``count`` tokens following ``suffix``: the last generated/drafted tokens, not the prompt.

        ``advance`` moves the cursor to the match; tentative queries on an unverified draft pass False.
        """
        if count <= 0:
            return []
        if not suffix:
            # Nothing written yet: the answer starts where the file starts (the prompt is pre-filled
            # with the opening fence).
            return self.original[self.cursor : self.cursor + count]
        suffix = list(suffix[-self.max_n :])
        for n in range(len(suffix), self.min_n - 1, -1):
            key = tuple(suffix[-n:])
            ends = self._orig_index.get(key)
            if ends:
                end = self._choose(ends)
                if advance:
                    self.cursor = end
                return self.original[end : end + count]
            gen_ends = self._gen_index.get(key)
            if gen_ends:
                end = gen_ends[-1]  # the most recent repetition
                return self.generated[end : end + count]
        return []

    def _choose(self, ends: list[int]) -> int:
        if not self.position_aware:
            return ends[0]
        i = bisect_left(ends, self.cursor)
        return ends[i] if i < len(ends) else ends[-1]
