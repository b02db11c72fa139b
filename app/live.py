"""The live view of a generation: the text so far, diffed against the original, coloured by layer.

It lives in the generation worker thread (no Textual widgets here, only ``Content`` values that are
safe to hand to the UI), so the event loop only swaps in a ready-made renderable every ~40 ms.
Rejected drafts are kept for ``REJECT_FLASH_S`` and drawn struck through at the place they were
proposed, so the user sees what the target refused without the view filling up with dead text.
"""

from __future__ import annotations

import bisect
import difflib
from dataclasses import dataclass, field

from textual.content import Content
from textual.content import Span as StyleSpan

from decoding.events import Layer, Span

REJECT_FLASH_S = 0.5
FENCE = "```"  # the prompt opens the file with a code fence; the answer's file ends at the closing one
LIVE_WINDOW_LINES = 400  # the live view follows the writing head; the full diff comes with review
LAYER_STYLE: dict[str, str] = {
    "lookup": "$spec-lookup",
    "draft": "$spec-draft",
    "target": "$spec-target",
}
REJECTED_STYLE = "$spec-rejected dim strike"
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
    _length: int = 0
    _rejected: list[_Rejected] = field(default_factory=list)
    _matched: tuple[int, list[_Opcode]] | None = None

    def add(self, span: Span, now: float) -> None:
        if not span.text:
            return
        if not span.accepted:
            self._rejected.append(_Rejected(self._length, span.text, now))
            return
        self._parts.append(span.text)
        self._styles.append(StyleSpan(self._length, self._length + len(span.text), _layer_style(span.layer)))
        self._length += len(span.text)

    def reset(self) -> None:
        """Forget the output (a lazy answer that falls back to a whole-file regeneration starts over)."""
        self._parts.clear()
        self._styles.clear()
        self._length = 0
        self._rejected.clear()
        self._matched = None

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def render(self, now: float, finished: bool = False) -> Content:
        self._rejected = [r for r in self._rejected if now - r.seen_at < REJECT_FLASH_S]
        text = self.text
        plain = text.split("\n")
        lines = self._with_rejected(Content(text, self._styles).split("\n", allow_blank=True), plain)
        complete, tail = lines[:-1], lines[-1]
        new = [line.rstrip("\r") for line in plain[:-1]]
        fence = next((i for i, line in enumerate(new) if line.strip() == FENCE), None)
        if fence is not None:  # the answer ends at the closing fence, whatever the model adds after it
            complete, new, finished = complete[:fence], new[:fence], True
        old = _lines(self.original)
        rows: list[Content] = []
        for tag, i1, i2, j1, j2 in self._opcodes(old, new, finished):
            if tag in ("delete", "replace"):
                rows.extend(Content.styled("- " + line, REMOVED_STYLE) for line in old[i1:i2])
            gutter = ("  ", "") if tag == "equal" else ("+ ", ADDED_GUTTER)
            rows.extend(Content.assemble(gutter, line) for line in complete[j1:j2])
        if fence is not None:
            rows.append(Content.styled(f"  {FENCE} end of the answer", "dim italic"))
        elif tail.plain or not finished:
            rows.append(Content.assemble(("… ", "dim"), tail, ("▍", "$spec-target")))
        hidden = len(rows) - LIVE_WINDOW_LINES
        if hidden > 0:
            rows = [Content.styled(f"  … {hidden} lines above", "dim italic"), *rows[hidden:]]
        return Content("\n").join(rows)

    def _with_rejected(self, lines: list[Content], plain: list[str]) -> list[Content]:
        """Overlay the still-visible rejected drafts where they were proposed; the diff ignores them."""
        starts = [0]
        for line in plain[:-1]:
            starts.append(starts[-1] + len(line) + 1)
        for rejected in sorted(self._rejected, key=lambda r: r.offset, reverse=True):
            row = bisect.bisect_right(starts, rejected.offset) - 1
            column = rejected.offset - starts[row]
            line = lines[row]
            shown = (rejected.text.replace("\n", "⏎"), REJECTED_STYLE)
            lines[row] = Content.assemble(line[:column], shown, line[column:])
        return lines

    def _opcodes(self, old: list[str], new: list[str], finished: bool) -> list[_Opcode]:
        """Line opcodes of the complete lines so far; complete lines never change, so cache per count."""
        if self._matched is None or self._matched[0] != len(new):
            ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
            self._matched = (len(new), ops)
        ops = self._matched[1]
        if not finished and ops and ops[-1][0] == "delete":
            ops = ops[:-1]  # the original lines the model has not reached yet are not deletions
        return ops


def _layer_style(layer: Layer) -> str:
    return LAYER_STYLE.get(layer, "")


def _lines(text: str) -> list[str]:
    """Lines without their endings, split exactly where the generated text is split (on \\n only)."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    return lines[:-1] if text.endswith("\n") or not text else lines
