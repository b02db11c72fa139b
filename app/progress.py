"""Progress lines on stderr for the non-TUI commands (model fetch/load, generation)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from decoding.events import LAYERS, Prefill, Stats


class StderrProgress:
    """Rewrites one status line on a terminal; prints at most one line per second when piped."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr  # looked up now: sys.stderr may be replaced (pytest capture)
        self.tty = self.stream.isatty()
        self._last = 0.0
        self._open_line = False

    def __call__(self, message: str, fraction: float | None = None) -> None:
        pct = f" {fraction * 100:3.0f}%" if fraction is not None else ""
        self.line(f"{message}{pct}", force=True)

    def line(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < (0.1 if self.tty else 1.0):
            return
        self._last = now
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
            self._open_line = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self, text: str | None = None) -> None:
        if text is not None:
            self.line(text, force=True)
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False


def format_prefill(event: Prefill) -> str:
    """The wait before the first token, worded alike in the TUI and on stderr: a long file is read first."""
    return f"Reading the file… {event.fraction:.0%} of {event.total} prompt tokens"


def format_stats(stats: Stats) -> str:
    """One-line summary: speed and per-layer acceptance, as the status bar shows it."""
    parts = [
        f"{stats.new_tokens} tok",
        f"{stats.tokens_per_s:.1f} tok/s",
        f"{stats.chars_per_s:.0f} chars/s",
    ]
    if stats.target_forwards:  # a remote server does not report its forwards
        parts.append(f"{stats.tokens_per_target_forward:.2f} tok/fwd")
    for layer in LAYERS:
        rate = stats.acceptance(layer)
        if rate is not None and layer != "target":
            parts.append(f"{layer} {rate * 100:.0f}%")
    if (prediction := format_prediction(stats)) is not None:
        parts.append(prediction)
    if stats.cached:
        parts.append("cached")
    return " · ".join(parts)


def format_prediction(stats: Stats) -> str | None:
    """A server's predicted-outputs usage (OpenAI backend), None when it reported none."""
    if stats.remote_accepted_prediction_tokens is None:
        return None
    accepted, rejected = stats.remote_accepted_prediction_tokens, stats.remote_rejected_prediction_tokens or 0
    return f"prediction {accepted} accepted / {rejected} rejected"
