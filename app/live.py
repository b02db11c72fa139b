"""The live view of a generation: the text so far, diffed against the original, coloured by layer.

It lives in the generation worker thread (no Textual widgets here, only ``Content`` values that are
safe to hand to the UI), so the event loop only swaps in a ready-made renderable every ~40 ms.
Rejected drafts are kept for ``REJECT_FLASH_S`` and drawn struck through at the place they were
proposed, so the user sees what the target refused without the view filling up with dead text.

The work per render is bounded, because it competes with generation for the GIL: the line diff is
anchored (an edit walks through the original in order, so everything up to the last long run of
copied lines is frozen and never diffed again) and only the last ``LIVE_WINDOW_LINES`` rows are
styled. The review afterwards diffs the complete files exactly (``vcs.hunks``).
"""

from __future__ import annotations

import bisect
import difflib
from dataclasses import dataclass, field

from textual.content import Content
from textual.content import Span as StyleSpan

from decoding.events import Layer, Span
from themes.specedit import LAYER_STYLE, REJECTED_STYLE

REJECT_FLASH_S = 0.5
FENCE = "```"  # the prompt opens the file with a code fence; the answer's file ends at the closing one
LIVE_WINDOW_LINES = 400  # the live view follows the writing head; the full diff comes with review
LOOKAHEAD_LINES = 400  # how far past the anchor the original is searched while generating
ANCHOR_RUN = 3  # copied lines in a row that freeze the diff before them
ADDED_GUTTER = "$diff-added bold"
REMOVED_STYLE = "$diff-removed"

_Opcode = tuple[str, int, int, int, int]


@dataclass
class _Rejected:
    offset: int  # position in the accepted output where the draft diverged
    text: str
    seen_at: float


@dataclass
class LiveText:
    """Accumulates Span events; ``render(now)`` draws the current state."""

    original: str
    _parts: list[str] = field(default_factory=list)
    _styles: list[StyleSpan] = field(default_factory=list)
    _ends: list[int] = field(default_factory=list)  # span ends, for bisecting
    _length: int = 0
    _rejected: list[_Rejected] = field(default_factory=list)
    _frozen: list[_Opcode] = field(default_factory=list)
    _anchor: tuple[int, int] = (0, 0)  # (original line, output line) where the unfrozen diff starts
    _matched: tuple[tuple[int, bool], list[_Opcode]] | None = None

    def __post_init__(self) -> None:
        self._old = _lines(self.original)

    def add(self, span: Span, now: float) -> None:
        if not span.text:
            return
        if not span.accepted:
            self._rejected.append(_Rejected(self._length, span.text, now))
            return
        self._parts.append(span.text)
        self._length += len(span.text)
        self._styles.append(StyleSpan(self._length - len(span.text), self._length, _layer_style(span.layer)))
        self._ends.append(self._length)

    def reset(self) -> None:
        """Forget the output (a lazy answer that falls back to a whole-file regeneration starts over)."""
        self._parts.clear()
        self._styles.clear()
        self._ends.clear()
        self._length = 0
        self._rejected.clear()
        self._frozen.clear()
        self._anchor = (0, 0)
        self._matched = None

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def render(self, now: float, finished: bool = False) -> Content:
        self._rejected = [r for r in self._rejected if now - r.seen_at < REJECT_FLASH_S]
        text = self.text
        new = [line.rstrip("\r") for line in text.split("\n")]
        complete, tail = new[:-1], new[-1]
        fence = next((i for i, line in enumerate(complete) if line.strip() == FENCE), None)
        if fence is not None:  # the answer ends at the closing fence, whatever the model adds after it
            complete, tail, finished = complete[:fence], "", True
        # Rows as (kind, line index); only the visible window is styled.
        rows: list[tuple[str, int]] = []
        for tag, i1, i2, j1, j2 in self._opcodes(complete, finished):
            if tag in ("delete", "replace"):
                rows.extend(("old", i) for i in range(i1, i2))
            rows.extend(("same" if tag == "equal" else "new", j) for j in range(j1, j2))
        writing = fence is None and (bool(tail) or not finished)
        if writing:
            rows.append(("tail", len(complete)))
        hidden = max(0, len(rows) - LIVE_WINDOW_LINES)
        rows = rows[hidden:]
        styled = self._styled_lines(text, min((j for kind, j in rows if kind != "old"), default=len(new) - 1))
        out: list[Content] = [Content.styled(f"  … {hidden} lines above", "dim italic")] if hidden else []
        for kind, index in rows:
            if kind == "old":
                out.append(Content.styled("- " + self._old[index], REMOVED_STYLE))
            elif kind == "tail":
                out.append(Content.assemble(("… ", "dim"), styled[index], ("▍", "$spec-target")))
            else:
                out.append(
                    Content.assemble(("  ", "") if kind == "same" else ("+ ", ADDED_GUTTER), styled[index])
                )
        if fence is not None:
            out.append(Content.styled(f"  {FENCE} end of the answer", "dim italic"))
        return Content("\n").join(out)

    def _styled_lines(self, text: str, first: int) -> dict[int, Content]:
        """Output lines ``first``.. with their layer colours and the still-visible rejected drafts."""
        offset = 0
        for _ in range(first):
            offset = text.index("\n", offset) + 1
        k = bisect.bisect_right(self._ends, offset)
        spans = [StyleSpan(max(s.start, offset) - offset, s.end - offset, s.style) for s in self._styles[k:]]
        lines = Content(text[offset:], spans).split("\n", allow_blank=True)
        starts = [offset]
        for line in text[offset:].split("\n")[:-1]:
            starts.append(starts[-1] + len(line) + 1)
        for rejected in sorted(self._rejected, key=lambda r: r.offset, reverse=True):
            if rejected.offset < offset:
                continue
            row = bisect.bisect_right(starts, rejected.offset) - 1
            column = rejected.offset - starts[row]
            line = lines[row]
            shown = (rejected.text.replace("\n", "⏎"), REJECTED_STYLE)
            lines[row] = Content.assemble(line[:column], shown, line[column:])
        return {first + i: line for i, line in enumerate(lines)}

    def _opcodes(self, new: list[str], finished: bool) -> list[_Opcode]:
        """Line opcodes of the complete output lines against the original, frozen up to the anchor."""
        key = (len(new), finished)
        if self._matched is None or self._matched[0] != key:
            i0, j0 = self._anchor
            stop = len(self._old) if finished else min(len(self._old), i0 + len(new) - j0 + LOOKAHEAD_LINES)
            matcher = difflib.SequenceMatcher(None, self._old[i0:stop], new[j0:], autojunk=False)
            ops = [(tag, a + i0, b + i0, c + j0, d + j0) for tag, a, b, c, d in matcher.get_opcodes()]
            for k in range(len(ops) - 1, -1, -1):
                tag, a, b, c, d = ops[k]
                if tag == "equal" and b - a >= ANCHOR_RUN:
                    self._frozen.extend(ops[: k + 1])
                    self._anchor, ops = (b, d), ops[k + 1 :]
                    break
            self._matched = (key, self._frozen + ops)
        ops = self._matched[1]
        if finished or not ops:
            return ops
        # The original lines the model has not reached yet are not deletions: a trailing delete is
        # dropped, and a trailing replace keeps no more old lines than it has new ones so far.
        tag, i1, i2, j1, j2 = ops[-1]
        if tag == "delete":
            return ops[:-1]
        if tag == "replace" and i2 - i1 > j2 - j1:
            return [*ops[:-1], (tag, i1, i1 + j2 - j1, j1, j2)]
        return ops


def _layer_style(layer: Layer) -> str:
    return LAYER_STYLE.get(layer, "")


def _lines(text: str) -> list[str]:
    """Lines without their endings, split exactly where the generated text is split (on \\n only)."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    return lines[:-1] if text.endswith("\n") or not text else lines
