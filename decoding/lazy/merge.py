"""Merge a lazy answer (only the changed blocks, with ``... existing code ...`` markers) into a file.

Asking for changed blocks only cuts the tokens a model has to generate; this module turns such an
answer back into the whole file, or refuses so the caller can ask for the whole file instead.

The rules, applied at every nesting level (the file, then the body of every block the answer shows
with a marker inside it):

1. Every answer block is matched to an original block at the same level by, in order: identical
   whitespace-normalised text, same signature (kind, name and header lines), same (kind, name).
   A key shared by several blocks is resolved by position between already-matched blocks; a *named*
   answer block that still has several candidates is refused as ambiguous (imports of one module,
   which an answer may merge into one line, pair with the first). Unmatched blocks are new. Imports
   are named by their module, so a rewritten import line replaces the original one.
2. Matched blocks in the original order are *anchors* (the longest in-order run of matches); a
   matched block out of that order has moved.
3. A marker stands for every original block between the anchors around it (or the edge of the
   level) that the answer does not show elsewhere, with the original text between them. Two markers
   between the same anchors with a new or moved block between them are ambiguous and refused.
4. An original block that is neither shown in the answer nor stood for by a marker is deleted: so a
   block absent between two anchors with no marker between them is deleted, and so is a block before
   the first or after the last anchor when no marker is there.
5. The output follows the answer's blocks, each marker replaced by the original blocks it stands
   for. Blank lines between two blocks the answer writes out are the answer's; wherever a marker
   touches them they follow the original's layout (``layout.py``), so models may space markers as
   they like. A shown block with a marker inside is merged into its original block by the same
   rules; shown blocks without markers replace theirs verbatim, except that the comments above the
   original travel with it when the answer has a marker right above the block and shows none.
6. Deleted lines are counted per gap between anchors, less the lines of new blocks in the same gap
   (a rewrite under a new name replaces code rather than losing it). More than 30 % of the
   original's lines deleted that way, summed over all levels, is refused.
7. A marker cannot say that it skips a deleted block, so when the answer adds a new block of a kind
   a marker also stands for (say a function next to a marker over functions), the result carries a
   note naming what the marker kept: the review shows it, as the new block may be a rewrite.

Refusals: an unsupported language, an original or answer that does not parse, ambiguity, a marker
inside something that is not a list of blocks, and the deletion limit of rule 6.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace

from decoding.lazy.blocks import (
    SUPPORTED_LANGUAGES,
    Block,
    MergeRefused,
    Source,
    first_error_row,
    marker_rows,
    nested_blocks,
    parse,
    top_blocks,
)
from decoding.lazy.layout import Layout, Piece, lead_in, lead_out

__all__ = [
    "SUPPORTED_LANGUAGES",
    "LazyMerge",
    "MergeRefused",
    "is_lazy_answer",
    "merge_lazy",
]

MAX_DELETED_FRACTION = 0.30

_KEYS: tuple[Callable[[Block], Hashable | None], ...] = (
    lambda b: (b.kind, b.digest),
    lambda b: (b.kind, b.name, b.signature) if b.name else None,
    lambda b: (b.kind, b.name) if b.name else None,
)


def is_lazy_answer(answer: str, language: str) -> bool:
    """Whether the answer holds at least one ``... existing code ...`` style marker line."""
    return bool(marker_rows(answer, language))


@dataclass(frozen=True)
class LazyMerge:
    """The merged file, and what the reviewer should know about how it was read (one line each)."""

    text: str
    notes: tuple[str, ...] = ()


def merge_lazy(original: str, answer: str, language: str) -> LazyMerge:
    """The whole file the lazy ``answer`` describes, or :class:`MergeRefused` with the reason."""
    orig = parse(original, language, answer=False)
    ans = parse(answer, language, answer=True)
    for source, what in ((orig, "the original file"), (ans, "the answer")):
        row = first_error_row(source)
        if row is not None:
            raise MergeRefused(f"{what} does not parse as {language} (line {row + 1})")
    merge = _Merge(orig, ans, language)
    o_items, a_items = top_blocks(orig), top_blocks(ans)
    lines = merge.level(o_items, a_items, top=True)
    total = len(orig.lines)
    if merge.deleted_rows > MAX_DELETED_FRACTION * total:
        raise MergeRefused(
            f"the merge would delete {merge.deleted_rows} of the file's {total} lines "
            f"(more than {MAX_DELETED_FRACTION:.0%}); the answer is probably not a lazy edit"
        )
    left = sorted(ans.markers - merge.expanded)
    if left:
        raise MergeRefused(f"the marker on line {left[0] + 1} of the answer is not between blocks")
    head, tail = merge.edges(
        a_items,
        ans.lines[: a_items[0].first] if a_items else ans.lines,
        ans.lines[a_items[-1].last + 1 :] if a_items else [],
        orig.lines[: o_items[0].first] if o_items else orig.lines,
        orig.lines[o_items[-1].last + 1 :] if o_items else [],
    )
    # a markers-only answer keeps the file's trailing blank lines, and its final newline or none
    ends_at_marker = bool(a_items) and a_items[-1].last in ans.markers
    final_newline = (original if ends_at_marker else answer).endswith("\n")
    return LazyMerge(_join([*head, *lines, *tail], final_newline=final_newline), tuple(merge.notes))


def _listed(blocks: list[Block], most: int = 3) -> str:
    named = ", ".join(b.describe() for b in blocks[:most])
    return named + (f" and {len(blocks) - most} more" if len(blocks) > most else "")


def _rows(first: int, last: int) -> str:
    return f"line {first + 1}" if first == last else f"lines {first + 1}-{last + 1}"


def _join(lines: list[str], *, final_newline: bool) -> str:
    """Lines from both texts; only a text's last line can lack its newline, and only the end keeps that."""
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return text if final_newline else text.removesuffix("\n")


def _anchors(pairs: dict[int, int]) -> set[int]:
    """Answer indices of the longest run of matches that keeps the original order."""
    order = sorted(pairs)
    tails: list[int] = []  # smallest original index ending an increasing run of each length
    tail_at: list[int] = []
    back: dict[int, int | None] = {}
    for a in order:
        o = pairs[a]
        k = bisect.bisect_left(tails, o)
        back[a] = tail_at[k - 1] if k else None
        if k == len(tails):
            tails.append(o)
            tail_at.append(a)
        else:
            tails[k] = o
            tail_at[k] = a
    chain: set[int] = set()
    cur = tail_at[-1] if tail_at else None
    while cur is not None:
        chain.add(cur)
        cur = back[cur]
    return chain


class _Merge:
    """One merge: walks the levels and keeps the counts and notes the final result needs."""

    def __init__(self, orig: Source, ans: Source, language: str) -> None:
        self.orig = orig
        self.ans = ans
        self.language = language
        self.deleted_rows = 0
        self.expanded: set[int] = set()
        self.notes: list[str] = []

    def level(self, o_items: list[Block], a_items: list[Block], *, top: bool) -> list[str]:
        """The merged blocks of one level with the blank lines between them (rules 1-7)."""
        pairs = self._match(o_items, a_items)
        anchors = _anchors(pairs)
        stands_for = self._expand(o_items, a_items, pairs, anchors)
        self.deleted_rows += self._net_deleted_rows(o_items, a_items, pairs, anchors, stands_for)
        self.notes += self._stood_for_notes(o_items, a_items, pairs, anchors, stands_for)

        pieces: list[Piece] = []
        for t, item in enumerate(a_items):
            gap = self.ans.lines[a_items[t - 1].last + 1 : item.first] if t else None
            if item.marker:
                self.expanded.add(item.first)
                run = [self._original_piece(o_items, o) for o in stands_for.get(t, ())]
                if run:
                    run[0] = replace(run[0], answer_gap=gap)
                pieces += run
                continue
            # the answer's own spacing counts only where no marker touches it (nor one that ends
            # the block above, as in a Python class whose body ends with a marker)
            written = t > 0 and not a_items[t - 1].marker and a_items[t - 1].last not in self.ans.markers
            o = pairs.get(t)
            lines = self._shown_lines(o_items, item, o, skipped_above=t > 0 and a_items[t - 1].marker)
            pieces.append(Piece(lines, o, item.category, gap, written))

        return Layout(self.orig, o_items, self.language, top=top).join(pieces)

    def edges(
        self, a_items: list[Block], head: list[str], tail: list[str], o_head: list[str], o_tail: list[str]
    ) -> tuple[list[str], list[str]]:
        """The lines before and after a level's blocks (``head``/``tail`` as the answer writes them):
        where a marker touches an edge, the blank lines there are the original's (``o_head``/``o_tail``)."""
        if a_items and a_items[0].marker:
            head = lead_in(head, o_head)
        if a_items and a_items[-1].last in self.ans.markers:
            tail = lead_out(tail, o_tail)
        return head, tail

    def _original_piece(self, o_items: list[Block], o: int) -> Piece:
        block = o_items[o]
        return Piece(self.orig.lines[block.first : block.last + 1], o, block.category)

    def _shown_lines(
        self, o_items: list[Block], item: Block, o: int | None, *, skipped_above: bool
    ) -> list[str]:
        """An answer block's lines (merged with its original when it has a marker inside).

        The comments above the original block travel with it when the answer shows none and has a
        marker right above it: models skip such comments with the unchanged code. Below code the
        answer wrote (or at its start), a missing comment was left out on purpose.
        """
        if any(item.first <= row <= item.last for row in self.ans.markers):
            if o is None:
                raise MergeRefused(
                    f"the answer's {item.describe()} (line {item.first + 1}) has a marker inside "
                    "but matches no block of the original"
                )
            lines = self._nested(o_items[o], item)
        else:
            lines = self.ans.lines[item.first : item.last + 1]
        if skipped_above and o is not None and not item.comment_rows and o_items[o].comment_rows:
            first = o_items[o].first
            lines = self.orig.lines[first : first + o_items[o].comment_rows] + lines
        return lines

    def _match(self, o_items: list[Block], a_items: list[Block]) -> dict[int, int]:
        pairs: dict[int, int] = {}
        for key in _KEYS:  # unique on both sides
            o_by, a_by = self._unpaired_by_key(key, o_items, a_items, pairs)
            for k, ais in a_by.items():
                if len(ais) == 1 and len(o_by.get(k, ())) == 1:
                    pairs[ais[0]] = o_by[k][0]
        for key in _KEYS:  # shared keys: pair in order between the anchors around them
            o_by, a_by = self._unpaired_by_key(key, o_items, a_items, pairs)
            for k, ais in a_by.items():
                by_gap: dict[tuple[int, int], list[int]] = defaultdict(list)
                for a in ais:
                    by_gap[self._between(a, pairs, len(o_items))].append(a)
                for (lo, hi), gap_ais in by_gap.items():
                    ois = [o for o in o_by.get(k, ()) if lo < o < hi]
                    # Imports of one module are interchangeable: an answer that merges them
                    # replaces the first and leaves the others to the markers.
                    merged_imports = a_items[gap_ais[0]].category == "import" and len(ois) > len(gap_ais)
                    if len(ois) == len(gap_ais) or merged_imports:
                        pairs.update(zip(gap_ais, ois, strict=False))
        o_by, a_by = self._unpaired_by_key(_KEYS[2], o_items, a_items, pairs)
        for k, ais in a_by.items():
            if k in o_by:
                item = a_items[ais[0]]
                raise MergeRefused(
                    f"ambiguous: the answer's {item.describe()} (line {item.first + 1}) could be any of "
                    f"{len(o_by[k])} blocks of the original with that name"
                )
        return pairs

    @staticmethod
    def _unpaired_by_key(
        key: Callable[[Block], Hashable | None],
        o_items: list[Block],
        a_items: list[Block],
        pairs: dict[int, int],
    ) -> tuple[dict[Hashable, list[int]], dict[Hashable, list[int]]]:
        used = set(pairs.values())
        o_by: dict[Hashable, list[int]] = defaultdict(list)
        a_by: dict[Hashable, list[int]] = defaultdict(list)
        for o, b in enumerate(o_items):
            if o not in used and key(b) is not None:
                o_by[key(b)].append(o)
        for a, b in enumerate(a_items):
            if a not in pairs and not b.marker and key(b) is not None:
                a_by[key(b)].append(a)
        return o_by, a_by

    @staticmethod
    def _between(a: int, pairs: dict[int, int], n_orig: int) -> tuple[int, int]:
        """Original indices (exclusive) of the matched answer blocks nearest before and after ``a``."""
        before = [p for p in pairs if p < a]
        after = [p for p in pairs if p > a]
        return (pairs[max(before)] if before else -1), (pairs[min(after)] if after else n_orig)

    @staticmethod
    def _expand(
        o_items: list[Block], a_items: list[Block], pairs: dict[int, int], anchors: set[int]
    ) -> dict[int, list[int]]:
        """Answer index of each marker -> original indices it stands for (rule 3)."""
        shown_elsewhere = set(pairs.values())
        stands_for: dict[int, list[int]] = {}
        lo, first_marker, between = -1, None, False
        for t in range(len(a_items) + 1):
            item = a_items[t] if t < len(a_items) else None
            if item is None or t in anchors:
                hi = pairs[t] if t in anchors else len(o_items)
                if first_marker is not None:
                    stands_for[first_marker] = [o for o in range(lo + 1, hi) if o not in shown_elsewhere]
                lo, first_marker, between = hi, None, False
            elif item.marker:
                if first_marker is None:
                    first_marker = t
                elif between:
                    hi = next((pairs[u] for u in sorted(anchors) if u > t), len(o_items))
                    if any(o not in shown_elsewhere for o in range(lo + 1, hi)):
                        raise MergeRefused(
                            f"ambiguous: the markers on lines {a_items[first_marker].first + 1} and "
                            f"{item.first + 1} of the answer share the same original code, so where "
                            "the blocks between them go is unclear"
                        )
                else:
                    stands_for[t] = []
            elif first_marker is not None:
                between = True
        return stands_for

    @staticmethod
    def _net_deleted_rows(
        o_items: list[Block],
        a_items: list[Block],
        pairs: dict[int, int],
        anchors: set[int],
        stands_for: dict[int, list[int]],
    ) -> int:
        """Rows of deleted blocks, less the rows of new blocks between the same anchors (rule 6).

        A function rewritten under a new name is a replacement, not a loss of code; what the 30 %
        rule is after is an answer that silently drops code, e.g. one that forgot its markers.
        """
        order = sorted(anchors)
        anchor_origs = [pairs[a] for a in order]
        shown = set(pairs.values()) | {o for run in stands_for.values() for o in run}
        net: dict[int, int] = defaultdict(int)
        for o, block in enumerate(o_items):
            if o not in shown:
                net[bisect.bisect_left(anchor_origs, o)] += block.rows
        for t, block in enumerate(a_items):
            if t not in pairs and not block.marker:
                net[bisect.bisect_left(order, t)] -= block.rows
        return sum(max(0, rows) for rows in net.values())

    @staticmethod
    def _stood_for_notes(
        o_items: list[Block],
        a_items: list[Block],
        pairs: dict[int, int],
        anchors: set[int],
        stands_for: dict[int, list[int]],
    ) -> list[str]:
        """Rule 7: a marker next to a new block of a kind it also stands for may hide a replacement
        the answer did not say it made (the old block stays), so the review says what it kept."""
        notes = []
        for t, run in sorted(stands_for.items()):
            lo = max((a for a in anchors if a < t), default=-1)
            hi = min((a for a in anchors if a > t), default=len(a_items))
            kinds = {o_items[o].category for o in run if o_items[o].node is not None} - {"import"}
            new = [a_items[u] for u in range(lo + 1, hi) if u not in pairs and a_items[u].category in kinds]
            if not new:
                continue
            alike = [o_items[o] for o in run if o_items[o].category in {b.category for b in new}]
            notes.append(
                f"the marker on line {a_items[t].first + 1} of the answer stands for original "
                f"{_rows(o_items[run[0]].first, o_items[run[-1]].last)}, with {_listed(alike)}, and the "
                f"answer adds {_listed(new)} next to it: if that is a rewrite, the old code is still there"
            )
        return notes

    def _nested(self, o_block: Block, a_block: Block) -> list[str]:
        """The answer's block with its body merged into the original block's body."""
        a_inner = nested_blocks(self.ans, a_block)
        o_inner = nested_blocks(self.orig, o_block)
        if a_inner is None or o_inner is None:
            where = "answer's" if a_inner is None else "original"
            raise MergeRefused(
                f"the marker in {a_block.describe()} (line {a_block.first + 1}) cannot be expanded: the "
                f"{where} block has no body of separate lines"
            )
        lines = self.level(o_inner, a_inner, top=False)
        head, tail = self.edges(
            a_inner,
            self.ans.lines[a_block.first : a_inner[0].first],
            self.ans.lines[a_inner[-1].last + 1 : a_block.last + 1],
            self.orig.lines[o_block.first : o_inner[0].first],
            self.orig.lines[o_inner[-1].last + 1 : o_block.last + 1],
        )
        return [*head, *lines, *tail]
