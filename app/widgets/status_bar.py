"""The status bar: which model, and how fast the speculation is going.

Plain decoding makes one target forward per token, so tokens per target forward is the speed-up the
speculation buys *in forwards*; wall-clock speed-up also depends on what a wide forward costs, which
only ``specedit bench`` measures. The bar therefore labels the figure "est." and says what it is.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from app.progress import format_prediction
from decoding.events import LAYERS, Stats

_LAYER_STYLE = {"lookup": "$spec-lookup", "draft": "$spec-draft", "target": "$spec-target"}


def status_content(model: str, stats: Stats | None) -> Content:
    parts: list[Content] = [Content.styled(model, "bold")]
    if stats is not None and stats.new_tokens:
        parts.append(Content(f"{stats.tokens_per_s:.1f} tok/s {stats.chars_per_s:.0f} chars/s"))
        rates = [
            Content.assemble((layer, _LAYER_STYLE[layer]), f" {rate * 100:.0f}%")
            for layer in LAYERS
            if layer != "target" and (rate := stats.acceptance(layer)) is not None
        ]
        if rates:
            parts.append(Content("accepted ").append(Content(" ").join(rates)))
        if (prediction := format_prediction(stats)) is not None:
            parts.append(Content(prediction))
        if stats.cached:
            parts.append(Content("cached answer"))
        elif stats.target_forwards:
            parts.append(Content(f"speed-up est. {stats.tokens_per_target_forward:.1f}x (tok/fwd)"))
    return Content(" │ ").join(parts)


class StatusBar(Static):
    def show(self, model: str, stats: Stats | None) -> None:
        self.update(status_content(model, stats))
