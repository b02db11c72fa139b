"""Modal screens: a yes/no question and the key help."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """Asks before doing something the user did not explicitly ask for (git init, reloading a file)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.labels = (yes, no)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="question")
            with Horizontal(id="buttons"):
                yield Button(f"{self.labels[0]} (y)", variant="primary", id="yes")
                yield Button(f"{self.labels[1]} (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class ChoiceScreen(ModalScreen[str | None]):
    """A question with more than two answers; each answer has a key. Escape answers None (back)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Back")]

    def __init__(self, question: str, choices: list[tuple[str, str, str]]) -> None:
        """``choices``: (value, label, key) per answer, the first being the default button."""
        super().__init__()
        self.question = question
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="question")
            with Vertical(id="choices"):
                for index, (value, label, key) in enumerate(self.choices):
                    yield Button(
                        f"{label} ({key})",
                        variant="primary" if index == 0 else "default",
                        id=f"choice-{value}",
                    )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss((event.button.id or "").removeprefix("choice-"))

    def on_key(self, event: Key) -> None:
        for value, _label, key in self.choices:
            if event.key == key:
                event.stop()
                self.dismiss(value)
                return


_KEY_NAMES = {"question_mark": "?"}


def binding_rows(where: str, bindings: Iterable[BindingType]) -> list[tuple[str, str, str]]:
    """(where, keys, what) per action, keys of the same action joined, for the help screen."""
    keys: dict[str, list[str]] = {}
    described: dict[str, str] = {}
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description:
            names = [_KEY_NAMES.get(key.strip(), key.strip()) for key in binding.key.split(",")]
            keys.setdefault(binding.action, []).extend(names)
            described.setdefault(binding.action, binding.description)
    return [(where, " / ".join(keys[action]), described[action]) for action in keys]


class HelpScreen(ModalScreen[None]):
    """Every key, grouped by where it works (built from the bindings themselves, so it cannot go stale)."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        width = max(len(keys) for _, keys, _ in self.rows)
        lines: list[Content] = [Content.styled("specedit keys", "bold $accent")]
        group = None
        for where, keys, what in self.rows:
            if where != group:
                lines += [Content(""), Content.styled(where, "bold")]
                group = where
            lines.append(Content.assemble(("  " + keys.ljust(width + 2), "$accent"), what))
        lines += [Content(""), Content.styled("escape / ? closes this help", "dim")]
        with Vertical(id="dialog"):
            yield Static(Content("\n").join(lines))
