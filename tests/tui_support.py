"""Shared by the TUI tests: a scripted EditBackend and a small git repository to edit."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from textual.worker import WorkerFailed

from app.run_options import RunOptions
from decoding.events import Done, Error, Event, Span, Stats
from decoding.request import EditRequest

if TYPE_CHECKING:
    from app.tui import SpeceditApp

ORIGINAL = """\
def add(a, b):
    return a + b


def sub(a, b):
    return a - b


def mul(a, b):
    return a * b
"""

# Two separate changes (line 1 and line 10), far enough apart to be two hunks.
PROPOSAL = ORIGINAL.replace("def add(a, b):", "def add(a: int, b: int) -> int:").replace(
    "    return a * b", "    result = a * b\n    return result"
)
FIRST_ONLY = ORIGINAL.replace("def add(a, b):", "def add(a: int, b: int) -> int:")
INSTRUCTION = "add type hints to add"
_LAYERS = ("lookup", "draft", "target")


def model_args(**overrides: object) -> RunOptions:
    """The options the TUI gets from the command line, with a scripted model's name."""
    values: dict[str, object] = {"model": "scripted", "method": "multilayer"}
    return RunOptions(**(values | overrides))  # type: ignore[arg-type]


class ScriptedBackend:
    """Streams a known answer line by line, cycling the layers, with one rejected draft on the way.

    ``hold`` makes it stop after the first span and wait for cancellation (for the escape test);
    ``fail`` makes it end with an Error event instead of a result; ``cut_at`` makes the first run stop
    at the token budget, and a request with a ``prefix`` continue after it.
    """

    def __init__(
        self, answer: str = PROPOSAL, hold: bool = False, fail: str | None = None, cut_at: int | None = None
    ) -> None:
        self.answer = answer
        self.hold = hold
        self.fail = fail
        self.cut_at = cut_at  # lines after which the first run hits the token budget (a CutOff)
        self.requests: list[EditRequest] = []

    def describe(self) -> str:
        return "scripted (cpu)"

    def method_and_engine(self) -> tuple[str, str]:
        return "lookup", "scripted"

    def identity(self) -> str:
        return "scripted"

    def stream(self, request: EditRequest, cancel: threading.Event | None = None) -> Iterator[Event]:
        self.requests.append(request)
        done_text = ""
        tokens = 0
        lines = self.answer.splitlines(keepends=True)
        lines = lines[len(request.prefix.splitlines()) :]  # a continued answer streams the rest
        for index, line in enumerate(lines):
            if self.cut_at is not None and not request.prefix and index == self.cut_at:
                stats = _stats(tokens, len(done_text), index)
                yield Done(done_text, (), stats, stop_reason="max_new_tokens")
                return
            if index == 1:
                yield Span("    nope\n", (0,), "draft", accepted=False)
            layer = _LAYERS[index % 3]
            yield Span(line, tuple(range(len(line))), layer, accepted=True)
            done_text += line
            tokens += len(line)
            yield _stats(tokens, len(done_text), index + 1)
            if self.hold:
                assert cancel is not None
                cancel.wait(timeout=30)
            if cancel is not None and cancel.is_set():
                yield Done(done_text, (), _stats(tokens, len(done_text), index + 1), True, "cancelled")
                return
        if self.fail is not None:
            yield Error(self.fail, kind="oom")
            return
        yield Done(done_text + "```\n", (), _stats(tokens, len(done_text), 4))


def _stats(tokens: int, chars: int, forwards: int) -> Stats:
    return Stats(
        new_tokens=tokens,
        chars=chars,
        target_forwards=forwards,
        proposed={"lookup": tokens, "draft": 10},
        accepted={"lookup": tokens - 5, "draft": 5},
        elapsed=2.0,
    )


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, text=True).stdout


def make_repo(folder: Path) -> Path:
    """A committed repository holding calc.py, an ignored build folder and a binary file."""
    folder.mkdir(parents=True, exist_ok=True)
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.name", "Test")
    git(folder, "config", "user.email", "test@example.com")
    (folder / "calc.py").write_text(ORIGINAL)
    (folder / "README.md").write_text("# demo\n")
    (folder / ".gitignore").write_text("build/\n*.log\n")
    (folder / "build").mkdir()
    (folder / "build" / "out.txt").write_text("generated\n")
    (folder / "debug.log").write_text("noise\n")
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    git(folder, "add", "calc.py", "README.md", ".gitignore", "logo.png")
    git(folder, "commit", "-q", "-m", "initial")
    return folder


SCREEN_WORKERS = ("generate", "git", "file", "review-apply", "grammar", "check")


async def settle(app: SpeceditApp, pilot) -> None:  # noqa: ANN001
    """Wait for the screen's workers (the file tree's loader never completes, so it is left out)."""
    for _ in range(3):  # a finished worker may post a message that starts the next one (apply -> open)
        mine = [w for w in app.workers if w.group in SCREEN_WORKERS and w.is_running]
        if mine:
            with contextlib.suppress(WorkerFailed):  # the screen's handler shows failures as notes
                await app.workers.wait_for_complete(mine)
        await pilot.pause()


async def type_instruction(app: SpeceditApp, pilot, instruction: str = INSTRUCTION) -> None:  # noqa: ANN001
    """Type an instruction into the box and press enter, once the screen is idle."""
    await settle(app, pilot)
    box = app.main.instruction_box
    box.focus()
    box.value = instruction
    await pilot.press("enter")
