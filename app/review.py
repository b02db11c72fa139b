"""Hunk-by-hunk review of a proposal: which hunk is selected, what the user decided, and drawing it.

Kept free of widgets so the decisions (and what gets applied) are tested without a terminal.
Nothing is applied behind the user's back: pending hunks are applied only when the user says so at
``enter`` (the review view asks), so the state keeps the three decisions apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from textual.content import Content

from vcs.hunks import Hunk

Decision = Literal["accepted", "rejected", "pending"]
CONTEXT_LINES = 2
_MARK: dict[Decision, tuple[str, str]] = {
    "accepted": ("✓ accepted", "$diff-added bold"),
    "rejected": ("✗ rejected", "$diff-removed bold"),
    "pending": ("· pending", "dim"),
}


@dataclass
class ReviewState:
    original: str
    proposal: str
    hunks: list[Hunk]
    selected: int = 0
    decisions: dict[str, Decision] = field(default_factory=dict)

    @property
    def current(self) -> Hunk | None:
        return self.hunks[self.selected] if self.hunks else None

    def decision(self, hunk: Hunk) -> Decision:
        return self.decisions.get(hunk.id, "pending")

    def move(self, step: int) -> None:
        if self.hunks:
            self.selected = max(0, min(len(self.hunks) - 1, self.selected + step))

    def decide(self, decision: Decision, advance: bool = True) -> None:
        """Mark the selected hunk and move on to the next, as reviewing top to bottom expects."""
        if self.current is not None:
            self.decisions[self.current.id] = decision
            if advance:
                self.move(1)

    def decide_all(self, decision: Decision) -> None:
        self.decisions = {hunk.id: decision for hunk in self.hunks}

    def ids(self, *decisions: Decision) -> set[str]:
        return {hunk.id for hunk in self.hunks if self.decision(hunk) in decisions}

    def count(self, decision: Decision) -> int:
        return sum(1 for hunk in self.hunks if self.decision(hunk) == decision)

    def replace_selected(self, edited: Hunk) -> None:
        """Put the user's edited version of the selected hunk in its place, accepted."""
        self.hunks[self.selected] = edited
        self.decisions[edited.id] = "accepted"

    def summary(self) -> str:
        noun = "hunk" if len(self.hunks) == 1 else "hunks"
        return (
            f"{len(self.hunks)} {noun}: {self.count('accepted')} accepted, {self.count('rejected')} "
            f"rejected, {self.count('pending')} pending"
        )

    def enter_hint(self) -> str:
        """What enter will do, said plainly (border and notes show it)."""
        accepted, pending = self.count("accepted"), self.count("pending")
        if pending:
            return f"enter: apply {accepted} accepted, then asks about {pending} pending"
        if accepted:
            return f"enter: apply {accepted} accepted"
        return "nothing accepted · escape dismisses"

    def render(self) -> tuple[Content, list[int]]:
        """The review as one renderable, plus the row of each hunk's header (to scroll to it)."""
        if not self.hunks:
            return Content.styled("The proposal is identical to the file: nothing to apply.", "dim"), []
        old = self.original.splitlines()
        rows: list[Content] = []
        offsets: list[int] = []
        for index, hunk in enumerate(self.hunks):
            offsets.append(len(rows))
            selected = index == self.selected
            label, style = _MARK[self.decision(hunk)]
            header = Content.assemble(
                ("▶ " if selected else "  ", "$accent bold"),
                (hunk.header, "$accent" if selected else "dim"),
                "  ",
                (label, style),
            )
            rows.append(header.stylize("on $diff-selected") if selected else header)
            start = hunk.old_start
            end = start + len(hunk.old_lines)
            rows.extend(
                Content.styled("  " + line, "dim") for line in old[max(0, start - CONTEXT_LINES) : start]
            )
            rows.extend(
                Content.styled("- " + line.rstrip("\r\n"), "$diff-removed") for line in hunk.old_lines
            )
            rows.extend(Content.styled("+ " + line.rstrip("\r\n"), "$diff-added") for line in hunk.new_lines)
            rows.extend(Content.styled("  " + line, "dim") for line in old[end : end + CONTEXT_LINES])
            rows.append(Content(""))
        return Content("\n").join(rows), offsets
