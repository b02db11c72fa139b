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
    """One edit. ``prefix`` continues an answer that the token budget cut off (see ``CutOff.resume``).

    Backends put ``prefix`` right after the pre-filled opening fence, as the start of the assistant's
    answer, and stream only what follows it; with greedy decoding the continuation is what a single
    run with a larger budget would have generated, and nothing already generated is paid for twice.
    A local backend feeds ``prefix_ids`` rather than re-tokenizing the text, which could split it into
    different tokens and so steer the continuation elsewhere.
    """

    path: str  # path shown to the model (relative to the opened folder); picks the language
    original: str  # the file's text as read from disk
    instruction: str
    format: OutputFormat = "whole"
    prefix: str = ""  # answer text already generated (after the opening fence) to continue from
    prefix_ids: tuple[int, ...] = ()  # its tokens, when the backend that generated them reported them
    earlier: tuple[str, ...] = ()  # a conversation's earlier instructions, already carried out in original


class EditBackend(Protocol):
    """Anything that turns an :class:`EditRequest` into a stream of events (local engine, HTTP server)."""

    def describe(self) -> str:
        """One line for the status bar: model, device, method."""
        ...

    def method_and_engine(self) -> tuple[str, str]:
        """The decoding method and the engine that produce the answers, ``auto`` already resolved.

        Commits record these rather than the method asked for, which may say only ``auto``.
        """
        ...

    def identity(self) -> str:
        """What decides this backend's answers: model weights and precision, token budget (cache keys).

        Unlike :meth:`describe` it leaves out what changes only the speed (draft, method, device) and
        never changes while the backend lives.
        """
        ...

    def stream(self, request: EditRequest, cancel: threading.Event | None = None) -> Iterator[Event]:
        """Yield Span/Stats events and end with exactly one Done or Error."""
        ...
