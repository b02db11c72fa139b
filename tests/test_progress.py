"""Progress on stderr for the commands without a TUI: a terminal gets one rewritten line, a pipe or log
file gets whole lines, sparse enough to read."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from app.progress import StderrProgress, format_prefill
from decoding.events import Prefill


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The progress clock, set by the test: ``clock[0]`` seconds."""
    now = [0.0]
    monkeypatch.setattr("app.progress.time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


def report(progress: StderrProgress, clock: list[float], at: list[float], total: int = 1000) -> None:
    for step, seconds in enumerate(at, start=1):
        clock[0] = seconds
        progress.line(format_prefill(Prefill(step * 100, total)))


def test_a_pipe_gets_at_most_one_whole_line_a_second(clock: list[float]) -> None:
    stream = io.StringIO()
    report(StderrProgress(stream), clock, [1.0, 1.5, 2.2, 2.9, 3.3])
    assert stream.getvalue().splitlines() == [
        "Reading the file… 10% of 1000 prompt tokens",
        "Reading the file… 30% of 1000 prompt tokens",
        "Reading the file… 50% of 1000 prompt tokens",
    ]


def test_a_terminal_gets_one_line_rewritten_in_place(clock: list[float]) -> None:
    stream = Terminal()
    progress = StderrProgress(stream)
    report(progress, clock, [1.0, 1.05, 1.2])
    progress.finish("done")
    assert stream.getvalue() == (
        "\r\x1b[2KReading the file… 10% of 1000 prompt tokens"
        "\r\x1b[2KReading the file… 30% of 1000 prompt tokens"
        "\r\x1b[2Kdone\n"
    )
