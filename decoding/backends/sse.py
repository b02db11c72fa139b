"""Server-sent events: split a streamed HTTP body into events.

Streaming Chat Completions arrive as SSE (``data: {...}`` lines, blank line between events). The
parser follows the WHATWG rules that matter here (multi-line data, comments, CRLF, a last event
without its blank line) and also surfaces llama.cpp's non-standard ``error: {...}`` lines, which
that server sends instead of ``data:`` when generation fails mid-stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str = "message"  # the ``event:`` field; "error" for llama.cpp's ``error:`` lines


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
