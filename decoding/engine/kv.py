"""The torch implementation of the engine's LM: a transformers causal LM with its own ``DynamicCache``.

The engine never re-encodes: each forward feeds only tokens the cache has not seen, and a rejected
draft is cut off with ``DynamicCache.crop``. In transformers 5.x ``crop`` takes the (non-positive)
number of tokens to remove, not the length to keep as in 4.x; ``rollback`` hides that. transformers
5.2x renamed the forward's ``past_key_values`` argument to ``cache`` (the old name warns and goes in
5.40); :data:`CACHE_ARG` picks whichever name the installed version's models declare.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from transformers import DynamicCache, LlamaForCausalLM, PreTrainedModel

# Decided once from a reference architecture, not per model: wrappers such as peft's PeftModel take
# ``**kwargs`` and would hide the name their base model expects.
CACHE_ARG = (
    "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters else "past_key_values"
)


class CachedModel:
    """A transformers model behind the :class:`decoding.engine.lm.LM` interface."""

    name = "torch"
    reuse_is_exact = True  # tested: a warm run gives the cold run's tokens (tests/test_engine_builtin.py)

    def __init__(self, model: PreTrainedModel) -> None:
        self.model = model
        self.cache = DynamicCache(config=model.config)
        self._tokens: list[int] = []
        self.forwards = 0
        self._device = model.device

    @property
    def device(self) -> torch.device:
        """Where the model runs: on a GPU its forwards keep no CPU core busy (decoding.models.cores)."""
        return self._device

    @property
    def tokens(self) -> list[int]:
        return self._tokens

    @property
    def length(self) -> int:
        """Tokens held in the cache."""
        return len(self._tokens)

    @property
    def vocab_size(self) -> int:
        return int(self.model.config.vocab_size)

    @property
    def eos_ids(self) -> frozenset[int]:
        value = self.model.generation_config.eos_token_id
        if value is None:
            return frozenset()
        return frozenset([value] if isinstance(value, int) else (int(v) for v in value))

    @torch.inference_mode()
    def forward(self, token_ids: Sequence[int], keep: int) -> torch.Tensor:
        """Feed ``token_ids`` after the cached ones; logits ``[keep, vocab]`` of the last ``keep`` positions.

        ``keep`` matters for speed: projecting a long prompt onto a 50k vocabulary only to read its
        last row would cost more than the transformer layers on CPU.
        """
        if not token_ids:
            raise ValueError("forward needs at least one token")
        ids = torch.tensor([list(token_ids)], dtype=torch.long, device=self._device)
        out = self.model(input_ids=ids, use_cache=True, logits_to_keep=keep, **{CACHE_ARG: self.cache})
        self._tokens.extend(token_ids)
        self.forwards += 1
        return out.logits[0]

    @torch.inference_mode()
    def rollback(self, length: int) -> None:
        """Forget every cached token from position ``length`` on."""
        if length < 0:
            raise ValueError("cannot roll back to a negative length")
        if length < self.length:
            self.cache.crop(length - self.length)
            del self._tokens[length:]
