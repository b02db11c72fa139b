"""Shared pieces of the speculation tests: lively tiny models and the greedy reference."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import cache

import torch
from transformers import DynamicCache, LlamaForCausalLM

from decoding.engine.kv import CACHE_ARG
from tests.tiny_models import make_tiny_llama


@cache
def lively_llama(seed: int, num_layers: int = 4) -> LlamaForCausalLM:
    """A tiny random Llama whose greedy output varies.

    With the default 0.02 init a random model repeats one token forever, which would leave prompt
    lookup, EOS placement and partial acceptance untested; wider weights give varied text.
    """
    model = make_tiny_llama(seed, num_layers)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 2:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.2)
    return model


@cache
def noisy_copy(seed: int, scale: float = 0.02) -> LlamaForCausalLM:
    """A draft that mostly agrees with ``lively_llama(seed)``: the same weights plus a little noise."""
    model = copy.deepcopy(lively_llama(seed))
    gen = torch.Generator().manual_seed(1000 + seed)
    with torch.no_grad():
        for param in model.model.layers[-1].parameters():
            param.add_(torch.randn(param.shape, generator=gen) * scale)
    return model


def greedy_reference(model: LlamaForCausalLM, prompt: Sequence[int], count: int) -> list[int]:
    """Plain greedy decoding, one token per forward, ignoring EOS (callers cut at the EOS they chose)."""
    cache = DynamicCache(config=model.config)
    out: list[int] = []
    ids = list(prompt)
    with torch.inference_mode():
        for _ in range(count):
            logits = model(input_ids=torch.tensor([ids]), use_cache=True, **{CACHE_ARG: cache}).logits
            ids = [int(logits[0, -1].argmax())]
            out.append(ids[0])
    return out


def expected_output(reference: Sequence[int], eos: set[int], max_new_tokens: int) -> list[int]:
    """Greedy output under an EOS set and a budget: cut after the first EOS, then at the budget."""
    out: list[int] = []
    for token in reference[:max_new_tokens]:
        out.append(token)
        if token in eos:
            break
    return out
