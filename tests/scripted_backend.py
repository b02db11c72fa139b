"""A test double for EditBackend that streams a fixed answer as real Span/Stats/Done events.

UI and pipeline tests need a deterministic proposal (e.g. exactly two hunks); the engine itself is
tested against real (tiny) models elsewhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from decoding.events import Done, Error, Event, Prefill, Span, Stats
from decoding.request import EditRequest


@dataclass
class ScriptedBackend:
    """Answers each request with the next scripted raw answer (text after the opening fence)."""

    answers: list[str]
    chunk: int = 8
    delay: float = 0.0
    fail_with: str | None = None
    budget: int | None = None  # characters per run; a longer answer is cut with stop_reason="max_new_tokens"
    prefill: int = 0  # prompt tokens reported read (two Prefill events, half and all) before the answer
    ran: tuple[str, str] = ("lookup", "scripted")  # the method and engine it says produced the answers
    requests: list[EditRequest] = field(default_factory=list)

    def describe(self) -> str:
        return "scripted · test"

    def method_and_engine(self) -> tuple[str, str]:
        return self.ran

    def identity(self) -> str:
        return f"scripted · budget {self.budget or 'auto'}"

    def stream(self, request: EditRequest, cancel: threading.Event | None = None) -> Iterator[Event]:
        self.requests.append(request)
        if self.fail_with is not None:
            yield Error(self.fail_with, kind="load")
            return
        if self.prefill:
            yield Prefill(self.prefill // 2, self.prefill)
            yield Prefill(self.prefill, self.prefill)
        answer = self.answers[min(len(self.requests) - 1, len(self.answers) - 1)]
        answer = answer.removeprefix(request.prefix)  # a continuation streams only what follows
        cut = self.budget is not None and len(answer) > self.budget
        answer = answer[: self.budget] if cut else answer
        text = ""
        for i in range(0, len(answer), self.chunk):
            if cancel is not None and cancel.is_set():
                yield Done(text, (), Stats(chars=len(text)), cancelled=True, stop_reason="cancelled")
                return
            piece = answer[i : i + self.chunk]
            layer = "lookup" if (i // self.chunk) % 2 == 0 else "target"
            yield Span(piece, (), layer, True)
            text += piece
            yield Stats(
                new_tokens=len(text), chars=len(text), target_forwards=i // self.chunk + 1, elapsed=0.01
            )
            if self.delay:
                time.sleep(self.delay)
        stats = Stats(new_tokens=len(text), chars=len(text), target_forwards=1, elapsed=0.01)
        yield Done(text, (), stats, stop_reason="max_new_tokens" if cut else "eos")
