"""Edit a region of a file: pick the lines, ask the model to rewrite only them, splice the answer back.

A whole-file rewrite costs a prefill of the whole file plus an answer as long as the file, whatever the
edit; a region costs what the region costs. The model sees the region as "the file" (so the prompt,
prompt lookup and the answer format are the usual ones) and a few lines around it, inside the
instruction, so that it knows the indentation and the names in scope without being asked to repeat
them. Splicing is plain string surgery on line boundaries, so everything outside the region comes back
byte for byte, line endings included.

A region is a line range (``FILE:START-END`` on the command line, a selection in the TUI) or the
function/class enclosing a line or named by ``--symbol`` (found with tree-sitter, decorators and
attached comments included).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property

from common.errors import UsageError
from decoding.events import Event
from decoding.prompts import fence_for, language_for
from decoding.request import EditBackend, EditRequest, OutputFormat
from decoding.session import CutOff, FormatChoice, Proposal, propose_edit

CONTEXT_LINES = 3
"""Lines shown before and after the region: enough for indentation and the enclosing header."""

_RANGE = re.compile(r"^(?P<path>.+):(?P<start>\d+)(?:-(?P<end>\d+))?$")


@dataclass(frozen=True)
class Selection:
    """Lines ``first..last`` (1-based, inclusive) of ``text``, with the context shown around them."""

    text: str
    first: int
    last: int
    context_lines: int = CONTEXT_LINES
    symbol: str | None = None  # the definition's name when the region is one

    def __post_init__(self) -> None:
        count = len(_lines(self.text))
        if not 1 <= self.first <= self.last <= max(count, 1):
            raise UsageError(
                f"lines {self.first}-{self.last} are not inside the file, which has {count} lines",
                hint="give START-END with 1 <= START <= END <= the number of lines",
            )

    @cached_property
    def start(self) -> int:
        """Character offset where the region begins."""
        return sum(len(line) for line in _lines(self.text)[: self.first - 1])

    @cached_property
    def end(self) -> int:
        """Character offset just after the region's last line (its line end included)."""
        return self.start + sum(len(line) for line in _lines(self.text)[self.first - 1 : self.last])

    @property
    def region(self) -> str:
        return self.text[self.start : self.end]

    @property
    def before(self) -> str:
        lines = _lines(self.text)
        return "".join(lines[max(0, self.first - 1 - self.context_lines) : self.first - 1])

    @property
    def after(self) -> str:
        return "".join(_lines(self.text)[self.last : self.last + self.context_lines])

    def describe(self) -> str:
        where = f"lines {self.first}-{self.last}"
        return f"{self.symbol} ({where})" if self.symbol else where

    def splice(self, new_region: str) -> str:
        """The file with the region replaced; a region that ended a line keeps ending one, so the next
        line is never glued onto the new region's last line."""
        if self.region.endswith("\n") and new_region and not new_region.endswith("\n"):
            new_region += "\r\n" if self.region.endswith("\r\n") else "\n"
        return self.text[: self.start] + new_region + self.text[self.end :]

    def request(self, path: str, instruction: str, fmt: OutputFormat = "whole") -> EditRequest:
        """The request for the region: the region is the file, the lines around it ride in the instruction."""
        fence = fence_for(self.text)
        lang = language_for(path)
        parts = [
            instruction.strip(),
            "",
            f"The code block below is {self.describe()} of `{path}`, not the whole file. Apply the "
            "instruction to these lines only and answer with their new version; the surrounding lines "
            "stay as they are and must not be repeated.",
        ]
        if self.before:
            parts += ["Lines just before (unchanged):", f"{fence}{lang}\n{_ended(self.before)}{fence}"]
        if self.after:
            parts += ["Lines just after (unchanged):", f"{fence}{lang}\n{_ended(self.after)}{fence}"]
        return EditRequest(path=path, original=self.region, instruction="\n".join(parts), format=fmt)

    def proposal(self, region_proposal: Proposal, path: str, instruction: str) -> Proposal:
        """A region proposal as a proposal for the whole file, its check run on the whole file (a
        region alone may not parse on its own: a method without its class)."""
        from decoding.checks import check_proposal

        new_text = self.splice(region_proposal.new_text)
        findings = check_proposal(self.text, new_text, path, instruction)
        return replace(region_proposal, new_text=new_text, findings=tuple(findings))


def propose_selection(
    backend: EditBackend,
    selection: Selection,
    path: str,
    instruction: str,
    fmt: FormatChoice = "whole",
    cancel: threading.Event | None = None,
    request: EditRequest | None = None,
) -> Iterator[Event | Proposal | CutOff]:
    """:func:`propose_edit` on the region; its Proposal comes out spliced into the whole file.

    ``request`` continues a cut-off region answer (``cut.resume()``). No edit cache: it keys answers
    by the text the model saw, and a region answer must never come back as a whole file's.
    """
    region_request = request or selection.request(path, instruction)
    for event in propose_edit(backend, region_request, fmt, cancel, cache=None):
        yield selection.proposal(event, path, instruction) if isinstance(event, Proposal) else event


# --- choosing a region ----------------------------------------------------------------------------


def parse_target(spec: str) -> tuple[str, tuple[int, int] | None]:
    """``FILE:START-END`` (or ``FILE:LINE``) into the path and the line range; a plain path has none.

    A path that itself ends in ``:digits`` is ambiguous; the range reading wins (callers may check
    whether the whole spec names an existing file first).
    """
    match = _RANGE.match(spec)
    if match is None:
        return spec, None
    first = int(match["start"])
    last = int(match["end"]) if match["end"] else first
    if first < 1 or last < first:
        raise UsageError(f"bad line range in {spec!r}", hint="write FILE:START-END with 1 <= START <= END")
    return match["path"], (first, last)


def symbol_selection(text: str, path: str, name: str) -> Selection:
    """The definition called ``name`` (``Class.method`` for a nested one), found with tree-sitter."""
    found = [
        (dotted, first, last) for dotted, first, last in definitions(text, path) if _matches(dotted, name)
    ]
    if not found:
        known = ", ".join(dotted for dotted, _, _ in definitions(text, path)[:12])
        raise UsageError(
            f"no function or class named {name!r} in {path}",
            hint=f"definitions found: {known}"
            if known
            else "this file has no definitions tree-sitter can see",
        )
    if len(found) > 1:
        places = ", ".join(f"{dotted} (line {first})" for dotted, first, _ in found)
        raise UsageError(f"{name!r} names {len(found)} definitions in {path}: {places}", hint="qualify it")
    dotted, first, last = found[0]
    return Selection(text, first, last, symbol=dotted)


def enclosing_selection(text: str, path: str, line: int) -> Selection | None:
    """The innermost function/class containing ``line`` (1-based), None outside any: the TUI's pick."""
    around = [d for d in definitions(text, path) if d[1] <= line <= d[2]]
    if not around:
        return None
    dotted, first, last = min(around, key=lambda d: d[2] - d[1])
    return Selection(text, first, last, symbol=dotted)


def definitions(text: str, path: str) -> list[tuple[str, int, int]]:
    """Every definition as (dotted name, first line, last line), 1-based, in file order, nested too.

    Lines include decorators and comments attached above. Files tree-sitter cannot read (unsupported
    language) have none.
    """
    from decoding.lazy.blocks import DEFINITION_KINDS, SUPPORTED_LANGUAGES, nested_blocks, parse, top_blocks

    language = language_for(path)
    if language not in SUPPORTED_LANGUAGES:
        return []
    source = parse(text, language, answer=False)
    found: list[tuple[str, int, int]] = []
    pending = [(block, "") for block in top_blocks(source)]
    while pending:
        block, outer = pending.pop(0)
        if block.kind not in DEFINITION_KINDS or not block.name:
            continue
        dotted = f"{outer}.{block.name}" if outer else block.name
        found.append((dotted, block.first + 1, block.last + 1))
        pending += [(inner, dotted) for inner in nested_blocks(source, block) or []]
    return sorted(found, key=lambda d: (d[1], -d[2]))


def _matches(dotted: str, name: str) -> bool:
    return dotted == name or dotted.endswith(f".{name}")


def _lines(text: str) -> list[str]:
    """Lines with their ends, split on ``\n`` only, as tree-sitter and editors number them."""
    from decoding.lazy.blocks import split_lines

    return split_lines(text)


def _ended(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"
