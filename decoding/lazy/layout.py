"""Blank lines between the blocks of a merged level: the original file's layout, not the answer's.

Models write markers with any spacing (often none: ``return None`` right above ``# ... existing
code ...``), so the blank lines around a marker say nothing about the file. Between two blocks that
were neighbours in the original the original's blank lines come back; next to a block that moved,
was deleted or is new, the original's spacing around the block that stays is reused; and a new
definition gets the spacing the original uses around its definitions at that level (or the
language's convention: PEP 8's two blank lines around top-level ``def``/``class``). The answer's own
blank lines count between two blocks it writes out itself, and where the original has nothing to say.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from decoding.lazy.blocks import Block, Source


@dataclass(frozen=True)
class Piece:
    """One block of the merged level: its lines and where they came from."""

    lines: list[str]
    orig: int | None  # index of the original block it is (None: new in the answer)
    category: str  # Block.category
    answer_gap: list[str] | None = None  # the answer's lines right before it (or before its marker)
    written: bool = False  # it and its predecessor are blocks the answer wrote out with nothing between


class Layout:
    """The blank lines between pieces of one level of the original (``top``: the file itself)."""

    def __init__(self, orig: Source, o_items: list[Block], language: str, *, top: bool) -> None:
        self.orig = orig
        self.o_items = o_items
        self.language = language
        self.top = top

    def join(self, pieces: list[Piece]) -> list[str]:
        out: list[str] = []
        for i, piece in enumerate(pieces):
            if i:
                trusted = piece.written and piece.answer_gap is not None
                out += piece.answer_gap if trusted else self.gap(pieces[i - 1], piece)
            out += piece.lines
        return out

    def gap(self, before: Piece, after: Piece) -> list[str]:
        """Blank lines between two pieces, from the most specific evidence the original offers."""
        ob, oa = before.orig, after.orig
        if ob is not None and oa is not None and oa == ob + 1:
            return self._original_gap(ob)
        # The original spacing at the spot: before the block that follows, else after the one that precedes.
        if oa is not None and oa > 0:
            spot: tuple[list[str], str] | None = (self._original_gap(oa - 1), self.o_items[oa - 1].category)
        elif ob is not None and ob + 1 < len(self.o_items):
            spot = (self._original_gap(ob), self.o_items[ob + 1].category)
        else:
            spot = None
        if ob is not None and oa is not None:  # a block between them went away or moved
            return spot[0] if spot is not None else []
        new = before if ob is None else after
        if spot is not None and spot[1] == new.category:  # the new block takes the place of a like one
            return spot[0]
        pair = (before.category, after.category)
        items = self.o_items
        alike = [o for o in range(len(items) - 1) if (items[o].category, items[o + 1].category) == pair]
        learned = self._most_common_gap(alike)
        if learned is not None:
            return learned
        if "definition" in pair:
            return self._definition_gap()
        if pair == ("import", "import"):
            return []
        if spot is not None:
            return spot[0]
        return after.answer_gap or []  # the original says nothing here; the answer may

    def _original_gap(self, o: int) -> list[str]:
        """The lines between original blocks ``o`` and ``o + 1``."""
        return self.orig.lines[self.o_items[o].last + 1 : self.o_items[o + 1].first]

    def _most_common_gap(self, between: range | list[int]) -> list[str] | None:
        gaps = Counter(tuple(self._original_gap(o)) for o in between)
        if not gaps:
            return None
        return list(max(gaps, key=lambda g: (gaps[g], len(g))))

    def _definition_gap(self) -> list[str]:
        """What the original puts next to its definitions at this level, else the convention (PEP 8's
        two blank lines around top-level ``def``/``class``; one elsewhere and in other languages)."""
        items = self.o_items
        around = [
            o for o in range(len(items) - 1) if "definition" in (items[o].category, items[o + 1].category)
        ]
        learned = self._most_common_gap(around)
        if learned is not None:
            return learned
        eol = "\r\n" if self.orig.lines and self.orig.lines[0].endswith("\r\n") else "\n"
        return [eol] * (2 if self.language == "python" and self.top else 1)


def _is_blank(line: str) -> bool:
    return not line.strip()


def trailing_blanks(lines: list[str]) -> int:
    n = 0
    while n < len(lines) and _is_blank(lines[len(lines) - 1 - n]):
        n += 1
    return n


def leading_blanks(lines: list[str]) -> int:
    n = 0
    while n < len(lines) and _is_blank(lines[n]):
        n += 1
    return n


def lead_in(answer_lines: list[str], original_lines: list[str]) -> list[str]:
    """The lines before a level's first block when the answer starts the level with a marker: the
    answer's, with the original's blank lines right above the first block."""
    kept = answer_lines[: len(answer_lines) - trailing_blanks(answer_lines)]
    return kept + original_lines[len(original_lines) - trailing_blanks(original_lines) :]


def lead_out(answer_lines: list[str], original_lines: list[str]) -> list[str]:
    """The lines after a level's last block, by the same rule as :func:`lead_in`."""
    return original_lines[: leading_blanks(original_lines)] + answer_lines[leading_blanks(answer_lines) :]
