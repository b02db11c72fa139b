"""The opened file, syntax highlighted (tree-sitter via TextArea), read-only: the model does the edits.

A grammar is used only after it rendered cleanly in a child process (``app.grammar_probe``): a grammar
that crashes natively would otherwise take the whole app, and the user's terminal, with it. Until the
verdict is known (about a second, once per language and install) the file shows as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.message import Message
from textual.widgets import TextArea

from app.grammar_probe import cached_verdict, grammar_is_safe
from decoding.prompts import language_for


class CodeView(TextArea):
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

    def show(self, path: Path, text: str) -> None:
        language = language_for(path.name)
        self.wanted_language = language if language in self.available_languages else None
        self.language = None
        self.load_text(text)
        self.border_title = path.name
        if self.wanted_language is not None:
            verdict = cached_verdict(self.wanted_language)
            if verdict is None:
                self._probe(self.wanted_language)
            elif verdict:
                self.language = self.wanted_language

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
