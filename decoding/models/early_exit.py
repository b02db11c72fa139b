"""Self-speculative draft: the target's first k layers + its final norm and LM head (early exit).

It gives the three speculation layers without a second download. The draft is a shallow clone of
the target that shares every weight (no extra memory) but has its own config (``num_hidden_layers =
k``) and its own module list, so it runs with a separate, shorter ``DynamicCache`` and never touches
the target's cache.
"""

from __future__ import annotations

import copy

from torch import nn
from transformers import PreTrainedModel


def default_exit_layers(num_layers: int) -> int:
    """k when the user gives none: a quarter of the depth keeps copying reliable at a quarter of the cost."""
    return max(1, num_layers // 4)


def _shallow_clone(module: nn.Module) -> nn.Module:
    clone = object.__new__(type(module))
    clone.__dict__ = dict(module.__dict__)
    for registry in ("_modules", "_parameters", "_buffers"):
        clone.__dict__[registry] = dict(module.__dict__[registry])
    # An instance-level forward (accelerate hooks, patches) is bound to the original module: it would
    # run the full target instead of the clone.
    clone.__dict__.pop("forward", None)
    return clone


def early_exit_draft(target: PreTrainedModel, layers: int | None = None) -> PreTrainedModel:
    """A draft model running the first ``layers`` decoder layers of ``target`` (weights shared)."""
    decoder = target.get_decoder()
    blocks = getattr(decoder, "layers", None)
    if not isinstance(blocks, nn.ModuleList):
        raise ValueError(
            f"{type(target).__name__} has no decoder layer list; pass a separate draft model instead"
        )
    total = len(blocks)
    k = default_exit_layers(total) if layers is None else layers
    if not 1 <= k < total:
        raise ValueError(f"early_exit_layers must be within 1..{total - 1} for this model, got {k}")
    config = copy.deepcopy(target.config)
    config.num_hidden_layers = k
    if getattr(config, "layer_types", None):
        config.layer_types = list(config.layer_types[:k])
    inner = _shallow_clone(decoder)
    inner.config = config
    inner.layers = nn.ModuleList(list(blocks)[:k])
    draft = _shallow_clone(target)
    draft.config = config
    if getattr(target, target.base_model_prefix, None) is not decoder:
        raise ValueError(f"cannot locate the decoder of {type(target).__name__} to build an early-exit draft")
    setattr(draft, target.base_model_prefix, inner)
    return draft
