"""The instruction box: an Input that recalls earlier instructions with up/down, like a shell."""

from __future__ import annotations

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
