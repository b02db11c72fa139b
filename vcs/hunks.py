"""Line hunks between a file and a model's proposal, so the user can accept or reject each change.

difflib does the alignment; this module only fixes a representation that can be applied partially.
A hunk replaces ``old_lines`` (starting at ``old_start`` in the original) with ``new_lines``; hunks are
ordered and never overlap, so any subset can be applied by walking the original once. Lines are split on
``\n`` only and keep it (``str.splitlines`` would also split on ``\r``, form feeds and other separators
git does not treat as line ends), so applying hunks reproduces texts byte for byte, including a missing
final newline or CRLF endings, and ``unified_diff`` agrees with git.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Hunk:
    """One change: ``old_lines`` at ``old_start`` (0-based, original) become ``new_lines``.

    ``new_start`` is the 0-based line of ``new_lines`` in the full proposal (every hunk accepted); it is
    for display only, applying never needs it. ``id`` is derived from position and content, so the same
    (original, proposal) pair always yields the same ids and a UI can keep its accept/reject marks across
    re-renders.
    """

    id: str
    old_start: int
    old_lines: tuple[str, ...]
    new_start: int
    new_lines: tuple[str, ...]

    @property
    def header(self) -> str:
        """The ``@@ -a,b +c,d @@`` line (1-based; an empty side names the line before it, as diff does)."""
        old = _range(self.old_start, len(self.old_lines))
        return f"@@ -{old} +{_range(self.new_start, len(self.new_lines))} @@"

    def unified(self) -> str:
        """This hunk as unified-diff text: header, then context (``' '``), ``-`` and ``+`` lines."""
        out = [self.header + "\n"]
        for tag, i1, i2, j1, j2 in _matcher(self.old_lines, self.new_lines).get_opcodes():
            if tag == "equal":
                out.extend(_marked(" ", self.old_lines[i1:i2]))
            else:
                out.extend(_marked("-", self.old_lines[i1:i2]))
                out.extend(_marked("+", self.new_lines[j1:j2]))
        return "".join(out)


def compute_hunks(original: str, proposal: str, context: int = 0) -> list[Hunk]:
    """Hunks turning ``original`` into ``proposal``, in file order.

    With ``context > 0`` changes closer than ``2 * context`` lines are merged into one hunk that also
    carries up to ``context`` unchanged lines around them (as in ``diff -U``); those lines are identical on
    both sides, so accepting or rejecting the hunk stays exact.
    """
    if context < 0:
        raise ValueError(f"context must be >= 0, got {context}")
    old = _lines(original)
    new = _lines(proposal)
    hunks = []
    for group in _matcher(old, new).get_grouped_opcodes(context):
        if all(tag == "equal" for tag, *_ in group):
            continue  # identical texts yield one all-equal group
        i1, j1 = group[0][1], group[0][3]
        i2, j2 = group[-1][2], group[-1][4]
        old_lines, new_lines = tuple(old[i1:i2]), tuple(new[j1:j2])
        hunks.append(Hunk(_hunk_id(i1, old_lines, new_lines), i1, old_lines, j1, new_lines))
    return hunks


def apply_hunks(original: str, hunks: Sequence[Hunk], accepted: Collection[str]) -> str:
    """``original`` with exactly the hunks whose id is in ``accepted`` applied.

    Raises ValueError if the hunks do not belong to ``original`` (overlap, out of order, or lines that do
    not match): applying a stale hunk list silently would corrupt the file.
    """
    old = _lines(original)
    accepted = set(accepted)
    out: list[str] = []
    pos = 0
    for hunk in hunks:
        end = hunk.old_start + len(hunk.old_lines)
        if hunk.old_start < pos or tuple(old[hunk.old_start : end]) != hunk.old_lines:
            raise ValueError(f"hunk {hunk.id} ({hunk.header}) does not apply to this text")
        out.extend(old[pos : hunk.old_start])
        out.extend(hunk.new_lines if hunk.id in accepted else hunk.old_lines)
        pos = end
    out.extend(old[pos:])
    return "".join(out)


def unified_diff(original: str, proposal: str, path: str) -> str:
    """A ``git apply``-able unified diff (``a/path`` -> ``b/path``, 3 lines of context); empty if equal."""
    lines = difflib.unified_diff(
        _lines(original),
        _lines(proposal),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    out = []
    for line in lines:
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


def _lines(text: str) -> list[str]:
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _matcher(old: Sequence[str], new: Sequence[str]) -> difflib.SequenceMatcher[str]:
    # autojunk would treat frequent lines (blank lines, closing braces) in files over 200 lines as junk and
    # produce needlessly large hunks.
    return difflib.SequenceMatcher(None, old, new, autojunk=False)


def _hunk_id(old_start: int, old_lines: tuple[str, ...], new_lines: tuple[str, ...]) -> str:
    digest = hashlib.sha1(repr((old_start, old_lines, new_lines)).encode(), usedforsecurity=False)
    return digest.hexdigest()[:12]


def _range(start: int, length: int) -> str:
    return f"{start + 1 if length else start},{length}"


def _marked(mark: str, lines: Sequence[str]) -> list[str]:
    return [
        mark + (line if line.endswith("\n") else line + "\n\\ No newline at end of file\n") for line in lines
    ]
