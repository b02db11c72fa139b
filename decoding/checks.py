"""The proposal check: what is suspicious about a proposed file, found before the user reviews it.

One function, :func:`check_proposal`, serves the TUI, ``specedit edit`` and ``specedit bench --check``
so that what a user is warned about is exactly what is measured. Each check compares the proposal
with the original, so a file that was already broken is not blamed on the model:

- ``syntax``: tree-sitter parse errors in the proposal that the original did not have (line numbers
  point into the proposal);
- ``deletion``: more than :data:`MAX_DELETED_FRACTION` of the original's lines deleted while the
  instruction does not ask to remove anything;
- ``names`` (Python): names used but not defined, that the original did not already lack; this covers
  both a definition removed while still used and a new use of a name that was never defined;
- ``no-change``: the proposal is the original, reported as such rather than as an empty review.

Names are found with pyflakes through its library API (``pyflakes.checker.Checker`` on an ``ast``
tree) rather than ruff: ruff is a Rust binary with no Python API, so checking a proposal would mean
writing it to a temporary file and starting a process per check, and shipping that binary to every
user; pyflakes is a small pure-Python dependency that runs in-process in milliseconds, and ruff's
F821 (undefined name) rule is itself a port of it.
"""

from __future__ import annotations

import ast
import difflib
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from decoding.prompts import language_for

FindingKind = Literal["syntax", "deletion", "names", "no-change"]

MAX_DELETED_FRACTION = 0.30
MAX_LISTED = 5  # findings of one kind listed one by one; the rest are summed up in one more finding

_REMOVAL_WORDS = re.compile(
    r"\b(remove|delete|drop|strip|erase|eliminate|get rid|clean ?up|prune|trim|shorten|cut|"
    r"simplify|condense|shrink|reduce|minimi[sz]e|dedup\w*|unused)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Finding:
    """One problem with a proposal; ``line`` is 1-based in the proposal (None: about the whole file)."""

    kind: FindingKind
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{self.kind}: {where}{self.message}"


def check_proposal(original: str, proposal: str, path: str, instruction: str) -> tuple[Finding, ...]:
    """Every finding about ``proposal`` as an edit of ``original`` asked for by ``instruction``."""
    if proposal == original:
        return (Finding("no-change", "the proposal is identical to the file"),)
    language = language_for(path)
    findings = [*_syntax(original, proposal, language), *_deletion(original, proposal, instruction)]
    if language == "python":
        findings += _names(original, proposal)
    return tuple(findings)


def asks_to_remove(instruction: str) -> bool:
    """Whether the instruction may legitimately shrink the file (remove, rewrite, simplify, ...)."""
    return bool(_REMOVAL_WORDS.search(instruction))


def deleted_lines(original: str, proposal: str) -> int:
    """Original lines gone without a replacement: a rewrite that swaps lines for new ones deletes none."""
    matcher = difflib.SequenceMatcher(None, original.splitlines(), proposal.splitlines(), autojunk=False)
    return sum(
        max(0, (i2 - i1) - (j2 - j1))
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag in ("delete", "replace")
    )


def _deletion(original: str, proposal: str, instruction: str) -> list[Finding]:
    total = len(original.splitlines())
    deleted = deleted_lines(original, proposal)
    if total == 0 or deleted < 2 or deleted / total <= MAX_DELETED_FRACTION or asks_to_remove(instruction):
        return []
    message = (
        f"deletes {deleted} of the file's {total} lines ({deleted / total:.0%}) "
        "although the instruction does not ask to remove anything"
    )
    return [Finding("deletion", message)]


def _syntax(original: str, proposal: str, language: str) -> list[Finding]:
    """New parse errors, matched to the original's by the text of their line (they may have moved)."""
    from decoding.lazy.blocks import SUPPORTED_LANGUAGES

    if language not in SUPPORTED_LANGUAGES:
        return []
    before = Counter(_line(original, row) for row in _error_rows(original, language))
    new_rows = []
    for row in _error_rows(proposal, language):
        key = _line(proposal, row)
        if before[key] > 0:
            before[key] -= 1
        else:
            new_rows.append(row)
    return _capped(
        [Finding("syntax", f"{language} syntax error: {_line(proposal, row)!r}", row + 1) for row in new_rows]
    )


def _line(text: str, row: int) -> str:
    lines = text.split("\n")
    return lines[row].strip() if row < len(lines) else ""


def _error_rows(text: str, language: str) -> list[int]:
    """Rows of the outermost ERROR and MISSING nodes, in order (one per broken construct)."""
    from decoding.lazy.blocks import parse

    root = parse(text, language, answer=False).tree.root_node
    rows: list[int] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            rows.append(node.start_point.row)
            continue
        stack.extend(reversed([child for child in node.children if child.has_error or child.is_missing]))
    return sorted(set(rows))


def _names(original: str, proposal: str) -> list[Finding]:
    """Undefined names in the proposal that the original did not already have."""
    after = _undefined_names(proposal)
    if after is None:
        return []  # does not compile: the syntax check reports it
    before = _undefined_names(original) or {}
    findings = [
        Finding("names", f"undefined name {name!r}", line)
        for name, line in sorted(after.items(), key=lambda item: item[1])
        if name not in before
    ]
    return _capped(findings)


def _undefined_names(source: str) -> dict[str, int] | None:
    """Each undefined name with the line of its first use; None when the source does not parse."""
    from pyflakes import checker, messages

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # e.g. invalid escapes in the model's strings
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    found: dict[str, int] = {}
    for message in checker.Checker(tree).messages:
        if isinstance(message, messages.UndefinedName | messages.UndefinedLocal):
            found.setdefault(str(message.message_args[0]), message.lineno)
    return found


def _capped(findings: list[Finding]) -> list[Finding]:
    """At most :data:`MAX_LISTED` findings of a kind, then one that counts the rest."""
    if len(findings) <= MAX_LISTED:
        return findings
    rest = len(findings) - MAX_LISTED
    more = Finding(findings[0].kind, f"and {rest} more like these", None)
    return [*findings[:MAX_LISTED], more]
