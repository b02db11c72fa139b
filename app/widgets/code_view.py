"""The opened file, syntax highlighted (tree-sitter via TextArea), read-only: the model does the edits."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import TextArea

from decoding.prompts import language_for


class CodeView(TextArea):
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

    def show(self, path: Path, text: str) -> None:
        language = language_for(path.name)
        self.language = language if language in self.available_languages else None
        self.load_text(text)
        self.border_title = path.name
