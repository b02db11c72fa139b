"""The proposal pane: the live generation while streaming, then the hunk review, which it owns.

The review keys are bindings of this widget, so they act only while it has focus: typing ``a`` or
``r`` in the instruction box types letters. The widget keeps the review state (a reactive: every
change redraws) and never writes files: when the user has decided, it posts :class:`ReviewView.Apply`
with the hunks to apply and the screen does the git work in a thread.

Enter never applies a hunk the user has not seen decided: with pending hunks it asks (all of them,
only the accepted ones, or back), and a proposal with check findings asks for confirmation first.
While git changes the file under a review (apply, undo, redo) the screen parks the review: its keys
go inert at once, so a proposal is never decided or applied twice, nor on top of text it was not
computed from. Long lines scroll horizontally rather than being cut.
"""

from __future__ import annotations

import contextlib
import textwrap
from dataclasses import dataclass

from textual import work
from textual.app import SuspendNotSupported
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.content import Content
from textual.message import Message
from textual.reactive import var
from textual.widgets import Static

from app.hunk_edit import HunkEditError, edit_in_editor
from app.review import Decision, ReviewState
from app.widgets.dialogs import ChoiceScreen, ConfirmScreen
from decoding.checks import Finding

REVIEW_TITLE = "review"
MIN_WRAP = 20  # columns: narrower than this a hint is left to scroll


class ReviewView(ScrollableContainer, can_focus=True):
    BINDINGS = [
        Binding("j", "move(1)", "Next hunk", show=False),
        Binding("k", "move(-1)", "Prev hunk", show=False),
        Binding("down", "move(1)", "Next hunk", show=False),
        Binding("up", "move(-1)", "Prev hunk", show=False),
        Binding("a", "decide('accepted')", "Accept"),
        Binding("r", "decide('rejected')", "Reject"),
        Binding("A", "decide_all('accepted')", "Accept all", show=False),
        Binding("R", "decide_all('rejected')", "Reject all", show=False),
        Binding("e", "edit_hunk", "Edit hunk"),
        Binding("enter", "apply", "Apply"),
        Binding("escape", "dismiss", "Dismiss"),
    ]

    review: var[ReviewState | None] = var(None, always_update=True)
    findings: var[tuple[Finding, ...]] = var(())
    _parked: tuple[ReviewState, tuple[Finding, ...]] | None = None

    @dataclass
    class Apply(Message):
        """The user chose what to apply: exactly the hunks in ``hunk_ids`` (of ``review.hunks``)."""

        review: ReviewState
        hunk_ids: frozenset[str]

    @dataclass
    class Dismissed(Message):
        """The user closed the review without applying anything."""

    @dataclass
    class Changed(Message):
        """A decision or the selection changed; ``summary`` is for the notes line."""

        summary: str

    def compose(self):  # noqa: ANN201 - Textual's ComposeResult
        yield Static(id="findings")
        yield Static(id="diff-body")

    # -- what the pane shows --------------------------------------------------------------------

    def show_hint(self, text: str, title: str = "proposal") -> None:
        self._parked = None
        self.review = None
        self.findings = ()
        self.border_title = title
        self.border_subtitle = ""
        self._body(Content.styled(_wrapped(text, self.content_region.width), "dim"))

    def show_report(self, title: str, content: Content) -> None:
        """Text the user must read (a failed check's output), its end in view."""
        self.show_hint("", title)
        self.show_live(content)

    def show_live(self, content: Content) -> None:
        self._body(content)
        self.call_after_refresh(self.scroll_end, animate=False, x_axis=False)

    def start_review(self, review: ReviewState, findings: tuple[Finding, ...]) -> None:
        self._parked = None
        self.findings = findings
        self.review = review

    def park(self, text: str, title: str) -> None:
        """Set the review (if one is open) aside while git changes the file under it; ``text`` instead.

        Its keys are inert from this moment. :meth:`unpark` brings it back as the user left it (the
        transaction failed, or left this file alone); anything else shown here ends it for good.
        """
        if self.review is None:
            return
        parked = (self.review, self.findings)
        self.show_hint(text, title)
        self._parked = parked

    def unpark(self) -> bool:
        """Put a parked review back, decisions and selection included; False if none is parked."""
        parked = self._parked
        if parked is None:
            return False
        self.start_review(*parked)
        return True

    def watch_findings(self, findings: tuple[Finding, ...]) -> None:
        box = self.query_one("#findings", Static)
        box.display = bool(findings)
        if findings:
            lines = [
                Content.styled(f"⚠ the proposal check found {len(findings)} problem(s):", "$warning bold")
            ]
            lines += [Content.styled(f"  {finding}", "$warning") for finding in findings]
            box.update(Content("\n").join(lines))

    def watch_review(self, review: ReviewState | None) -> None:
        if review is None:
            return
        content, offsets = review.render()
        count = len(review.hunks)
        self.border_title = (
            f"{REVIEW_TITLE} · hunk {review.selected + 1}/{count}" if count else "review · no change"
        )
        self.border_subtitle = review.enter_hint() if count else "escape dismisses"
        self._body(content)
        if offsets:
            row = offsets[review.selected] + (len(self.findings) + 1 if self.findings else 0)
            self.call_after_refresh(self.scroll_to, y=max(0, row - 2), animate=False)

    def _body(self, content: Content) -> None:
        self.query_one("#diff-body", Static).update(content)

    # -- keys -----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in {"move", "decide", "decide_all", "edit_hunk", "apply", "dismiss"}:
            return True if self.review is not None else None
        return True

    def _changed(self) -> None:
        self.mutate_reactive(ReviewView.review)
        if self.review is not None:
            self.post_message(self.Changed(f"{self.review.summary()} · {self.review.enter_hint()}"))

    def action_move(self, step: int) -> None:
        if self.review is not None:
            self.review.move(step)
            self._changed()

    def action_decide(self, decision: Decision) -> None:
        if self.review is not None:
            self.review.decide(decision)
            self._changed()

    def action_decide_all(self, decision: Decision) -> None:
        if self.review is not None:
            self.review.decide_all(decision)
            self._changed()

    def action_dismiss(self) -> None:
        self.show_hint("Review dismissed; nothing was changed.")
        self.post_message(self.Dismissed())

    def action_edit_hunk(self) -> None:
        review = self.review
        if review is None or review.current is None:
            return
        try:
            with contextlib.ExitStack() as terminal:
                with contextlib.suppress(SuspendNotSupported):  # headless: nothing to hand over
                    terminal.enter_context(self.app.suspend())
                edited = edit_in_editor(review.current)
        except HunkEditError as exc:
            self.notify(str(exc), severity="error")
            return
        if edited is not None and self.review is review:
            review.replace_selected(edited)
            self._changed()

    @work(exclusive=True, group="review-apply")
    async def action_apply(self) -> None:
        """Ask what the user has not said yet, then post Apply (a worker: dialogs are awaited)."""
        review = self.review
        if review is None:
            return
        accepted, pending = review.count("accepted"), review.count("pending")
        if accepted + pending == 0:
            self.post_message(self.Changed("nothing to apply: every hunk is rejected (escape dismisses)"))
            return
        if self.findings:
            problems = "\n".join(f"  {finding}" for finding in self.findings)
            question = f"The proposal check found problems:\n{problems}\n\nApply anyway?"
            if not await self.app.push_screen_wait(ConfirmScreen(question, yes="Apply anyway", no="Back")):
                return
        chosen: set[str] = review.ids("accepted")
        if pending:
            choices = [("all", f"Apply {accepted} accepted + {pending} pending", "y")]
            if accepted:
                choices.append(("accepted", f"Apply only the {accepted} accepted", "o"))
            choices.append(("back", "Back to the review", "n"))
            answer = await self.app.push_screen_wait(
                ChoiceScreen(f"{pending} hunk(s) are still pending (neither accepted nor rejected).", choices)
            )
            if answer == "all":
                chosen |= review.ids("pending")
            elif answer != "accepted":
                return
        if self.review is review:
            self.post_message(self.Apply(review, frozenset(chosen)))


def _wrapped(text: str, width: int) -> str:
    """A hint is a sentence: it wraps to the pane, where the body otherwise scrolls sideways for code.

    Before the first layout the width is unknown (0), and the text is left as it is.
    """
    if width < MIN_WRAP:
        return text
    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))
