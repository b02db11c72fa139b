"""The status bar: which model, and how fast the speculation is going, in the field's standard terms.

*Mean acceptance length* is tokens per verification that had a draft, the target's bonus token included
(vLLM and llama.cpp report the same figure); *tokens per target forward* counts every target forward
(plain decoding makes exactly 1). Neither is a wall-clock speed-up, which also depends on what a wide
forward costs: only ``specedit bench`` measures that, so the bar does not pretend to.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from app.progress import format_prediction
from decoding.events import LAYERS, Stats
from themes.specedit import LAYER_STYLE, REJECTED_STYLE

# Shown in the help screen, so the bar's terms are explained where the keys are.
STATUS_TERMS: tuple[tuple[str, str], ...] = (
    ("tok/s, chars/s", "generation speed so far (prompt reading included)"),
    ("acceptance", "share of each layer's proposed tokens that the target model accepted"),
    ("mean acceptance length", "tokens per verification with a draft, bonus token included"),
    ("tokens/target forward", "new tokens per forward pass of the target model (plain decoding: 1)"),
)


def layer_legend() -> Content:
    """What the colours of the live diff mean."""
    names = [Content.styled(layer, LAYER_STYLE[layer]) for layer in LAYERS]
    return Content.assemble(
        "proposed by ", Content(" ").join(names), " · ", Content.styled("rejected", REJECTED_STYLE)
    )


def status_content(model: str, stats: Stats | None) -> Content:
    parts: list[Content] = [Content.styled(model, "bold")]
    if stats is not None and stats.new_tokens:
        parts.append(Content(f"{stats.tokens_per_s:.1f} tok/s {stats.chars_per_s:.0f} chars/s"))
        rates = [
            Content.assemble((layer, LAYER_STYLE[layer]), f" {rate * 100:.0f}%")
            for layer in LAYERS
            if layer != "target" and (rate := stats.acceptance(layer)) is not None
        ]
        if rates:
            parts.append(Content("acceptance ").append(Content(" ").join(rates)))
        if (prediction := format_prediction(stats)) is not None:
            parts.append(Content(prediction))
        if stats.cached:
            parts.append(Content("cached answer"))
        elif stats.target_forwards:
            parts.append(
                Content(
                    f"mean acceptance length {stats.mean_acceptance_length:.2f} · "
                    f"{stats.tokens_per_target_forward:.2f} tokens/target forward"
                )
            )
    return Content(" │ ").join(parts)


class StatusBar(Static):
    def show(self, model: str, stats: Stats | None) -> None:
        self.update(status_content(model, stats))
