"""The diff pane: the live generation while streaming, then the hunk review with its keys.

The review keys are bindings of this widget, so they act only while it has focus: typing ``a`` or
``r`` in the instruction box types letters. The app owns the review state and performs the actions;
this widget only draws and scrolls.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static


class DiffView(VerticalScroll, can_focus=True):
    BINDINGS = [
        Binding("j", "app.hunk(1)", "Next hunk"),
        Binding("k", "app.hunk(-1)", "Prev hunk"),
        Binding("down", "app.hunk(1)", "Next hunk", show=False),
        Binding("up", "app.hunk(-1)", "Prev hunk", show=False),
        Binding("a", "app.decide('accepted')", "Accept"),
        Binding("r", "app.decide('rejected')", "Reject"),
        Binding("A", "app.decide_all('accepted')", "Accept all"),
        Binding("R", "app.decide_all('rejected')", "Reject all"),
        Binding("enter", "app.apply", "Apply"),
    ]

    def compose(self):  # noqa: ANN201 - Textual's ComposeResult
        yield Static(id="diff-body")

    def show(self, content: Content | str, follow: bool = False) -> None:
        self.query_one("#diff-body", Static).update(content)
        if follow:
            self.call_after_refresh(self.scroll_end, animate=False)

    def reveal_row(self, row: int) -> None:
        """Scroll so that a hunk header sits near the top, with a little context above it."""
        self.call_after_refresh(self.scroll_to, y=max(0, row - 2), animate=False)
