"""The opened file, syntax highlighted (tree-sitter via TextArea), read-only: the model does the edits.

Selecting lines here (shift+arrows, the mouse, or ``f`` for the function/class around the cursor)
narrows the next instruction to those lines: only the region is sent and rewritten
(``decoding.selection``), which costs what the region costs instead of the whole file.

A grammar is used only after it rendered cleanly in a child process (``app.grammar_probe``): a grammar
that crashes natively would otherwise take the whole app, and the user's terminal, with it. Until the
verdict is known (about a second, once per language and install) the file shows as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea
from textual.widgets.text_area import Selection as TextSelection

from app.grammar_probe import grammar_is_safe
from decoding.prompts import language_for
from decoding.selection import Selection, enclosing_selection


class CodeView(TextArea):
    BINDINGS = [Binding("f", "select_definition", "Select function")]

    @dataclass
    class GrammarProbed(Message):
        language: str
        safe: bool

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's own keyword
        super().__init__(
            "",
            read_only=True,
            show_line_numbers=True,
            soft_wrap=False,
            tab_behavior="focus",
            id=id,
        )
        self.cursor_blink = False
        self.wanted_language: str | None = None  # what the shown file would be highlighted as
        self.path: Path | None = None
        self._picked: Selection | None = None  # the last definition picked with f (for its name)

    def show(self, path: Path, text: str) -> None:
        language = language_for(path.name)
        self.wanted_language = language if language in self.available_languages else None
        self.language = None
        self.load_text(text)
        self.path, self._picked = path, None
        self.border_title = path.name
        if self.wanted_language is not None:
            self._probe(self.wanted_language)  # a cached verdict comes back at once, read off the loop

    def action_select_definition(self) -> None:
        if self.path is None:
            return
        picked = enclosing_selection(self.text, self.path.name, self.cursor_location[0] + 1)
        if picked is None:
            self.notify("no function or class around the cursor", severity="warning")
            return
        self._picked = picked
        last = picked.last - 1
        self.selection = TextSelection((picked.first - 1, 0), (last, len(self.document.get_line(last))))

    def selected_region(self) -> Selection | None:
        """The selected lines as a region to edit; None without a selection (edit the whole file)."""
        start, end = sorted(self.selection)
        if start == end:
            return None
        first, last = start[0] + 1, end[0] + (0 if end[1] == 0 and end[0] > start[0] else 1)
        if self._picked is not None and (self._picked.first, self._picked.last) == (first, last):
            return self._picked
        return Selection(self.text, first, last)

    @work(thread=True, group="grammar", exit_on_error=False)
    def _probe(self, language: str) -> None:
        self.post_message(self.GrammarProbed(language, grammar_is_safe(language)))

    def on_code_view_grammar_probed(self, message: CodeView.GrammarProbed) -> None:
        message.stop()
        if message.language != self.wanted_language:
            return  # another file was opened meanwhile
        if message.safe:
            self.language = message.language
        else:
            self.notify(
                f"the {message.language} grammar crashed when tried, so this file is shown as plain text",
                severity="warning",
            )
