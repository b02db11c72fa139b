"""The engine's model interface: a causal LM that owns one KV cache, fed incrementally, rolled back.

The speculation loop needs only four things from a model: feed tokens after the cached ones and read
the logits of the last few positions, forget the cache past a length, the ids that end a generation,
and the vocabulary size. Two implementations exist: ``decoding.engine.kv.CachedModel`` (a transformers
model with a ``DynamicCache``) and ``decoding.models.llamacpp.LlamaCppModel`` (a GGUF run by llama.cpp's
quantized kernels, where the cache lives in the llama.cpp context). Target and draft may each be either.

Each LM remembers the tokens its cache holds, so a new prompt that shares a prefix with the previous
one (a follow-up instruction on the same file, a regenerate) prefills only the rest (issue #17).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

PrefillProgress = Callable[[int, int], None]  # (tokens fed so far, tokens to feed)


@runtime_checkable
class LM(Protocol):
    """A causal LM with its own KV cache (one generation at a time)."""

    name: str  # the engine, for describe(): "torch" or "llama.cpp"
    forwards: int  # forward calls so far (bench and Stats count them)
    # Whether a prompt read in other chunks (a kept prefix, then the rest) gives the same KV bit for bit:
    # false where the kernels change with the batch size (llama.cpp on some quantisations).
    reuse_is_exact: bool

    @property
    def tokens(self) -> list[int]:
        """The tokens the cache holds, in order (its length is the next position)."""
        ...

    @property
    def length(self) -> int:
        """``len(tokens)``: the position the next fed token takes."""
        ...

    @property
    def vocab_size(self) -> int: ...

    @property
    def eos_ids(self) -> frozenset[int]:
        """Ids that end a generation by the model's own metadata (the tokenizer may add more)."""
        ...

    def forward(self, token_ids: Sequence[int], keep: int) -> torch.Tensor:
        """Feed ``token_ids`` after the cached tokens; return float logits of the last ``keep`` positions.

        Args:
            token_ids: ``n >= 1`` new tokens (pending output plus the draft to verify).
            keep: rows to return, ``1 <= keep <= n``; only those are projected on the vocabulary.

        Returns:
            A ``[keep, vocab_size]`` float tensor on the CPU or the model's device; row ``i`` predicts
            the token after position ``n - keep + i`` of ``token_ids``.
        """
        ...

    def rollback(self, length: int) -> None:
        """Forget every cached token from position ``length`` on (a rejected draft, a new prompt)."""
        ...


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def reuse_prefix(lm: LM, prompt_ids: Sequence[int]) -> int:
    """Keep the cached prefix shared with ``prompt_ids``; returns how many prompt tokens are cached.

    At least the prompt's last token stays unfed, so the first forward has input and yields the
    logits of the first new token: a repeated prompt recomputes one position, not the whole prompt.
    A model whose results depend on how its input was batched (``reuse_is_exact`` false) keeps
    nothing: a warm run must give the cold run's tokens.
    """
    kept = min(common_prefix(lm.tokens, prompt_ids), len(prompt_ids) - 1) if lm.reuse_is_exact else 0
    lm.rollback(max(0, kept))
    return max(0, kept)


def as_lm(model: object) -> LM:
    """The engine's LM for a loaded model: LMs (llama.cpp, or one already wrapped) pass through; a torch
    model gets a fresh cache. Callers that keep the returned LM across generations reuse its prefix."""
    if isinstance(model, LM):
        return model
    from decoding.engine.kv import CachedModel

    return CachedModel(model)  # type: ignore[arg-type]
