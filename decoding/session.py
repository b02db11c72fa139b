"""From an instruction to a proposed new file: backend stream, answer extraction, lazy merge/fallback.

This is the one pipeline shared by the TUI, ``specedit edit`` and the bench's lazy-vs-whole report.
It forwards the backend's events untouched (so the UI can draw spans live) and ends with a
:class:`Proposal` or an :class:`Error`.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace
from typing import Literal

from decoding.events import Done, Error, Event, Stats
from decoding.personal.cache import EditCache
from decoding.prompts import extract_file, language_for
from decoding.request import EditBackend, EditRequest

FormatChoice = Literal["auto", "whole", "lazy"]


@dataclass(frozen=True)
class Proposal:
    """The complete new file the user reviews hunk by hunk."""

    new_text: str
    raw: str  # the model's answer as generated (lazy answers before the merge)
    format_used: Literal["whole", "lazy"]
    stats: Stats
    note: str | None = None  # e.g. why a lazy answer fell back to whole-file generation


def _lazy_supported(path: str) -> bool:
    from decoding.lazy.merge import SUPPORTED_LANGUAGES

    return language_for(path) in SUPPORTED_LANGUAGES


def _generate(
    backend: EditBackend, request: EditRequest, cancel: threading.Event | None
) -> Generator[Event, None, Done | None]:
    """Forward the backend's events; return its ``Done`` (None after an Error or a silent end)."""
    for event in backend.stream(request, cancel):
        yield event
        if isinstance(event, Error):
            return None
        if isinstance(event, Done):
            return event
    yield Error("the backend ended without a result", kind="backend")
    return None


def propose_edit(
    backend: EditBackend,
    request: EditRequest,
    fmt: FormatChoice = "whole",
    cancel: threading.Event | None = None,
    cache: EditCache | None = None,
) -> Iterator[Event | Proposal]:
    """Run one edit; ``auto`` asks for a lazy answer and regenerates the whole file if the merge refuses.

    A request the user already accepted a result for (same file content, instruction and model) is
    answered from ``cache`` at once. A cancelled generation ends with its ``Done(cancelled=True)`` and
    no Proposal: a half-written file must never reach review.
    """
    hit = cache.get(request, backend.describe()) if cache is not None else None
    if hit is not None:
        yield Proposal(hit, hit, "whole", Stats(chars=len(hit), cached=True), "answered from the edit cache")
        return
    use_lazy = fmt == "lazy" or (fmt == "auto" and _lazy_supported(request.path))
    done = yield from _generate(backend, replace(request, format="lazy" if use_lazy else "whole"), cancel)
    if done is None or done.cancelled:
        return
    answer = extract_file(done.text, request.original)
    if not use_lazy:
        yield Proposal(answer, done.text, "whole", done.stats)
        return

    from decoding.lazy.merge import MergeRefused, is_lazy_answer, merge_lazy

    language = language_for(request.path)
    try:
        merged = (
            merge_lazy(request.original, answer, language) if is_lazy_answer(answer, language) else answer
        )
    except MergeRefused as refused:
        if fmt == "lazy":
            yield Error(f"lazy merge refused: {refused.reason}", kind="merge")
            return
        note = f"lazy merge refused ({refused.reason}); regenerated the whole file"
        whole = yield from _generate(backend, replace(request, format="whole"), cancel)
        if whole is not None and not whole.cancelled:
            stats = _combined(done.stats, whole.stats)
            yield Proposal(extract_file(whole.text, request.original), whole.text, "whole", stats, note)
        return
    yield Proposal(merged, done.text, "lazy", done.stats)


def _combined(a: Stats, b: Stats) -> Stats:
    """Both attempts count towards the user's wait, so speed figures cover both."""
    layers = set(a.proposed) | set(b.proposed) | set(a.accepted) | set(b.accepted)
    return Stats(
        new_tokens=a.new_tokens + b.new_tokens,
        chars=a.chars + b.chars,
        target_forwards=a.target_forwards + b.target_forwards,
        draft_forwards=a.draft_forwards + b.draft_forwards,
        proposed={k: a.proposed.get(k, 0) + b.proposed.get(k, 0) for k in layers},
        accepted={k: a.accepted.get(k, 0) + b.accepted.get(k, 0) for k in layers},
        elapsed=a.elapsed + b.elapsed,
        prefill_seconds=a.prefill_seconds + b.prefill_seconds,
    )
