"""A causal LM together with its own KV cache, fed incrementally and rolled back on rejection.

The engine never re-encodes: each forward feeds only tokens the cache has not seen, and a rejected
draft is cut off with ``DynamicCache.crop``. In transformers 5.x ``crop`` takes the (non-positive)
number of tokens to remove, not the length to keep as in 4.x; ``rollback`` hides that.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import DynamicCache, PreTrainedModel


class CachedModel:
    def __init__(self, model: PreTrainedModel) -> None:
        self.model = model
        self.cache = DynamicCache(config=model.config)
        self.length = 0  # tokens held in the cache
        self.forwards = 0
        self._device = model.device

    @torch.inference_mode()
    def forward(self, token_ids: Sequence[int], keep: int) -> torch.Tensor:
        """Feed ``token_ids`` after the cached ones; logits ``[keep, vocab]`` of the last ``keep`` positions.

        ``keep`` matters for speed: projecting a long prompt onto a 50k vocabulary only to read its
        last row would cost more than the transformer layers on CPU.
        """
        if not token_ids:
            raise ValueError("forward needs at least one token")
        ids = torch.tensor([list(token_ids)], dtype=torch.long, device=self._device)
        out = self.model(input_ids=ids, past_key_values=self.cache, use_cache=True, logits_to_keep=keep)
        self.length += len(token_ids)
        self.forwards += 1
        return out.logits[0]

    @torch.inference_mode()
    def rollback(self, length: int) -> None:
        """Forget every cached token from position ``length`` on."""
        if length < 0:
            raise ValueError("cannot roll back to a negative length")
        if length < self.length:
            self.cache.crop(length - self.length)
            self.length = length
