"""Speculation settings shared by the engine, the CLI and the bench.

Every method yields the same tokens (plain greedy decoding of the target); the settings only change
how many target forwards that takes, so bench can sweep them freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Method = Literal["regular", "lookup", "draft", "multilayer"]
METHODS: tuple[Method, ...] = ("regular", "lookup", "draft", "multilayer")
MethodChoice = Literal["auto", "regular", "lookup", "draft", "multilayer"]
METHOD_CHOICES: tuple[MethodChoice, ...] = ("auto", *METHODS)


def resolve_method(requested: MethodChoice | str, has_draft: bool, on_gpu: bool = False) -> Method:
    """The method to run for a user's choice: ``auto`` is the one measured fastest for what is loaded.

    Measured on CPU (docs/benchmarks.md), lookup was never slower than multilayer, even with the real
    0.5B draft of Qwen2.5-Coder-1.5B: llama.cpp, EditEval 40, lookup 1.00x and multilayer 0.75x regular;
    torch float32, one thread, EditEval 4, lookup 1.82x and multilayer 1.45x (with two threads and
    fixed lengths the issue measured 2.41x and 2.45x: a tie). On a CPU a verify of k tokens costs a good
    fraction of k plain steps, so the draft's own forwards do not pay. Multilayer is kept for a target
    on a GPU with a draft, where a verify costs about one step (Blazedit's setting; no GPU was lent to
    measure it yet); without a real draft lookup wins there too (an untuned early exit agrees with its
    target on about 1 % of tokens).

    Args:
        requested: ``auto`` or one of :data:`METHODS`.
        has_draft: whether a separate or tuned draft model is loaded.
        on_gpu: whether the target runs on a GPU.

    Returns:
        One of :data:`METHODS`; a ValueError for anything else.
    """
    if requested == "auto":
        return "multilayer" if has_draft and on_gpu else "lookup"
    for method in METHODS:
        if requested == method:
            return method
    raise ValueError(f"unknown method {requested!r}; choose one of {', '.join(METHOD_CHOICES)}")


@dataclass(frozen=True)
class SpecConfig:
    method: Method = "multilayer"
    max_new_tokens: int = 2048
    max_matching_ngram_size: int = 10  # PLD n-gram context
    min_matching_ngram_size: int = 1
    num_lookup_tokens: int = 40  # PLD proposal length for the `lookup` method
    micro_draft_tokens: int = 40  # PLD tokens the draft checks per micro-round (Blazedit)
    max_num_run: int = 4  # micro-rounds accumulated before one target verification
    position_aware: bool = True  # prefer the match after the last copied position
    stop_text: str | None = None  # generation ends at the token completing this text (closing fence)
    early_exit_layers: int | None = None  # k for the self-speculative draft (None => sensible default)
    num_draft_tokens: int = 6  # starting draft length of the `draft` method (then adapts)
    max_draft_tokens: int = 32  # cap of the `draft` method's adaptive length
    draft_min_prob: float = 0.4  # the draft stops extending when its top probability falls below this
    draft_min_acceptance: float = 0.3  # multilayer drops a draft whose own tokens the target accepts less
    prefill_chunk: int = (
        512  # prompt tokens per forward: a cancel waits at most one chunk, memory stays bounded
    )
    reuse_prefix: bool = True  # keep the KV of the prompt prefix shared with the previous generation
    # Draft lengths from forward costs measured on this machine (decoding.engine.costs); False keeps
    # the fixed lengths above, which suit a GPU, where a long verify costs about one step.
    cost_policy: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.max_new_tokens < 0:
            raise ValueError("max_new_tokens must be >= 0")
        if not 1 <= self.min_matching_ngram_size <= self.max_matching_ngram_size:
            raise ValueError("need 1 <= min_matching_ngram_size <= max_matching_ngram_size")
        for name in (
            "num_lookup_tokens",
            "micro_draft_tokens",
            "max_num_run",
            "num_draft_tokens",
            "prefill_chunk",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.max_draft_tokens < self.num_draft_tokens:
            raise ValueError("max_draft_tokens must be >= num_draft_tokens")
        if self.early_exit_layers is not None and self.early_exit_layers < 1:
            raise ValueError("early_exit_layers must be >= 1")
        for name in ("draft_min_prob", "draft_min_acceptance"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
