"""The instruction box: an Input that recalls this file's earlier instructions with up/down, as a shell.

Each file has its own history (the screen hands it over when a file opens), so instructions that
worked on one file are one key away when coming back to it. ``?`` in an empty box opens the help
(the box has focus most of the time, and a question mark is rarely the first character of an
instruction); anywhere else in the text it is just a character.
"""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.widgets import Input


class HistoryInput(Input):
    BINDINGS = [
        Binding("up", "history(-1)", "Previous instruction", show=False),
        Binding("down", "history(1)", "Next instruction", show=False),
    ]

    def __init__(self, *, placeholder: str = "", id: str | None = None) -> None:  # noqa: A002
        super().__init__(placeholder=placeholder, id=id)
        self.history: list[str] = []
        self._index = 0  # == len(history): editing a new line
        self._draft = ""

    def set_history(self, history: list[str]) -> None:
        """Use ``history`` (kept by the caller, per file) from now on; ``remember`` appends to it."""
        self.history = history
        self._index = len(history)
        self._draft = ""

    def remember(self, instruction: str) -> None:
        if instruction and (not self.history or self.history[-1] != instruction):
            self.history.append(instruction)
        self._index = len(self.history)
        self._draft = ""

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._index == len(self.history):
            self._draft = self.value
        self._index = max(0, min(len(self.history), self._index + step))
        self.value = self._draft if self._index == len(self.history) else self.history[self._index]
        self.cursor_position = len(self.value)

    async def _on_key(self, event: events.Key) -> None:
        if event.character == "?" and not self.value:
            event.stop()
            event.prevent_default()
            await self.run_action("app.help")
            return
        await super()._on_key(event)
