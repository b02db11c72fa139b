"""The body of the TUI's generation worker: engine events in, typed messages out.

It runs in a thread. The live diff is rendered here (``LiveText``), so the event loop only swaps in a
finished ``Content`` at most every ``BATCH_S`` seconds and never does per-token work. Messages go out
with ``post`` (``post_message``: thread-safe, never waits for the UI), each tagged with the generation
id so the screen can drop what a cancelled generation still sends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from textual.content import Content
from textual.message import Message

from app.live import LiveText
from app.messages import CutOffReached, GenerationFailed, LiveFrame, ProposalReady
from app.progress import format_prefill
from decoding.events import Done, Error, Event, Prefill, Span, Stats
from decoding.personal.cache import EditCache
from decoding.request import EditBackend, EditRequest
from decoding.selection import Selection, propose_selection
from decoding.session import CutOff, FormatChoice, Proposal, propose_edit

BATCH_S = 0.04


def edit_events(
    backend: EditBackend,
    request: EditRequest,
    region: Selection | None,
    fmt: FormatChoice,
    cancel: threading.Event,
    cache: EditCache | None,
) -> Iterator[Event | Proposal | CutOff]:
    """The session's events for the whole file, or for a region (its Proposal spliced into the file)."""
    if region is None:
        return propose_edit(backend, request, fmt, cancel, cache=cache)
    return propose_selection(backend, region, request.path, request.instruction, fmt, cancel, request=request)


def run_generation(
    generation: int,
    events: Iterator[Event | Proposal | CutOff],
    original: str,
    cancel: threading.Event,
    post: Callable[[Message], object],
) -> None:
    """Stream ``events`` as LiveFrame messages (the diff against ``original``, what the model rewrites)."""
    live = LiveText(original)
    stats: Stats | None = None
    restart = False
    last = 0.0
    for item in events:
        if cancel.is_set():
            return  # the screen already said "cancelled"; nothing more to draw
        now = time.monotonic()
        if isinstance(item, Span):
            if restart:  # a lazy answer was refused and the whole file is being regenerated
                live.reset()
                restart = False
            live.add(item, now)
        elif isinstance(item, Prefill):
            post(LiveFrame(generation, Content.styled(format_prefill(item), "dim"), stats))
            continue
        elif isinstance(item, Stats):
            stats = item
        elif isinstance(item, Done):
            stats, restart = item.stats, True
        elif isinstance(item, Error):
            post(GenerationFailed(generation, f"{item.kind}: {item.message}"))
            return
        elif isinstance(item, CutOff):
            post(LiveFrame(generation, live.render(now, finished=True), item.stats))
            post(CutOffReached(generation, item))
            return
        elif isinstance(item, Proposal):
            post(LiveFrame(generation, live.render(now, finished=True), item.stats))
            post(ProposalReady(generation, item))
            return
        if now - last >= BATCH_S:
            post(LiveFrame(generation, live.render(now), stats))
            last = now
