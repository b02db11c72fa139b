"""Server-sent events: split a streamed HTTP body into events.

Streaming Chat Completions arrive as SSE (``data: {...}`` lines, blank line between events). The
parser follows the WHATWG rules that matter here (multi-line data, comments, CRLF, a last event
without its blank line) and also surfaces llama.cpp's non-standard ``error: {...}`` lines, which
that server sends instead of ``data:`` when generation fails mid-stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str = "message"  # the ``event:`` field; "error" for llama.cpp's ``error:`` lines


class SSELineTooLong(Exception):
    """One line longer than the cap: a broken or hostile server, whose line would otherwise be
    buffered whole (a 512 MB line took 2 GB of memory)."""


class _LineReader(Protocol):
    def readline(self, limit: int = -1, /) -> bytes: ...


def read_lines(
    body: _LineReader,
    deadline: float,
    max_bytes: int,
    set_read_timeout: Callable[[float], None] | None = None,
) -> Iterator[bytes]:
    """The body's lines until it ends; TimeoutError once ``time.monotonic()`` passes ``deadline``.

    Checking the deadline per line is what stops a server that keeps the stream alive with comment
    lines forever; ``set_read_timeout`` (the socket's) bounds each wait for a line by the time left, so a
    silent server is stopped at the deadline too.
    """
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the answer's deadline passed")
        if set_read_timeout is not None:
            set_read_timeout(left)
        line = body.readline(max_bytes + 1)
        if not line:
            return
        if len(line) > max_bytes:
            raise SSELineTooLong(f"a stream line is longer than {max_bytes} bytes")
        yield line


def iter_sse(lines: Iterable[bytes]) -> Iterator[SSEEvent]:
    """Events from raw body lines (an ``http.client.HTTPResponse`` iterates like this)."""
    data: list[str] = []
    event = "message"
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield SSEEvent("\n".join(data), event)
            data, event = [], "message"
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value or "message"
        elif name == "error":
            data.append(value)
            event = "error"
    if data:
        yield SSEEvent("\n".join(data), event)
