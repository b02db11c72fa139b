"""What one edit asks for, independent of which backend answers it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from decoding.events import Event

OutputFormat = Literal["whole", "lazy"]


@dataclass(frozen=True)
class EditRequest:
    path: str  # path shown to the model (relative to the opened folder); picks the language
    original: str  # the file's text as read from disk
    instruction: str
    format: OutputFormat = "whole"


class EditBackend(Protocol):
    """Anything that turns an :class:`EditRequest` into a stream of events (local engine, HTTP server)."""

    def describe(self) -> str:
        """One line for the status bar: model, device, method."""
        ...

    def stream(self, request: EditRequest, cancel: threading.Event | None = None) -> Iterator[Event]:
        """Yield Span/Stats events and end with exactly one Done or Error."""
        ...
