"""transformers' own ``generate()`` as the baselines users already have: ``hf-pld`` and ``hf-assisted``.

They run only in the bench, never in the app (DESIGN.md: transformers' candidate-generator hooks change
between releases, so the engine owns its loop). Forwards are counted with module hooks so that the
bench's tokens-per-forward column compares like with like.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from decoding.engine.config import SpecConfig
from decoding.engine.lm import as_lm
from decoding.engine.loop import eos_token_ids
from decoding.models.load import LoadedModels

HF_METHODS = ("hf-pld", "hf-assisted")
# transformers' assisted generation calls generate() on the assistant with a config *and* loose
# arguments, then warns the user about it: a deprecation only transformers itself can act on.
_INTERNAL_DEPRECATION = "Passing `generation_config` together with generation-related"


@contextlib.contextmanager
def _without_internal_deprecation() -> Iterator[None]:
    """Drop only that message, only around our generate() call: every other warning still shows."""
    logger = logging.getLogger("transformers.generation.utils")

    def keep(record: logging.LogRecord) -> bool:
        return _INTERNAL_DEPRECATION not in record.getMessage()

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


@dataclass(frozen=True)
class BaselineRun:
    """What one ``generate()`` call produced and cost; the tokens end at the first EOS, as the engine's do."""

    token_ids: list[int]
    text: str
    seconds: float
    target_forwards: int
    draft_forwards: int


def run_baseline(models: LoadedModels, method: str, prompt_ids: list[int], config: SpecConfig) -> BaselineRun:
    """Greedy ``generate()`` with prompt lookup (``hf-pld``) or an assistant model (``hf-assisted``)."""
    import torch

    if method not in HF_METHODS:
        raise ValueError(f"unknown baseline {method!r}; choose one of {', '.join(HF_METHODS)}")
    kwargs: dict[str, Any] = {}
    if method == "hf-pld":
        kwargs["prompt_lookup_num_tokens"] = config.num_lookup_tokens
        kwargs["max_matching_ngram_size"] = config.max_matching_ngram_size
    else:
        kwargs["assistant_model"] = assistant(models, config)
    # Count decoder-layer calls, not model calls: the self-speculative draft is a shallow clone of
    # the target and shares its module hooks. The target's last layer runs only in target forwards;
    # the assistant's first layer runs in its own forwards (and in the target's when shared).
    target_layers = models.target.get_decoder().layers
    counts = {"last": 0, "first": 0}
    hooks = [
        target_layers[-1].register_forward_hook(lambda *_: counts.__setitem__("last", counts["last"] + 1))
    ]
    assistant_model = kwargs.get("assistant_model")
    shared = False
    if assistant_model is not None:
        first = assistant_model.get_decoder().layers[0]
        hooks.append(first.register_forward_hook(lambda *_: counts.__setitem__("first", counts["first"] + 1)))
        shared = first is target_layers[0]
    tokenizer = models.tokenizer
    ids = torch.tensor([prompt_ids], device=models.device)
    try:
        start = time.perf_counter()
        with torch.inference_mode(), _without_internal_deprecation():
            out = models.target.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=config.max_new_tokens,
                stopping_criteria=_stop_criteria(tokenizer, config.stop_text),
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                **kwargs,
            )
        seconds = time.perf_counter() - start
    finally:
        for hook in hooks:
            hook.remove()
    new = out[0, len(prompt_ids) :].tolist()
    eos = eos_token_ids(as_lm(models.target), tokenizer)
    for i, token in enumerate(new):  # end at the first EOS, kept as the engine keeps it (padding after)
        if token in eos:
            new = new[: i + 1]
            break
    text = tokenizer.decode(new, skip_special_tokens=True)
    draft_forwards = counts["first"] - (counts["last"] if assistant_model is not None and shared else 0)
    return BaselineRun(new, text, seconds, counts["last"], draft_forwards)


def assistant(models: LoadedModels, config: SpecConfig) -> Any:
    """The draft for ``hf-assisted``: the explicit draft, else the engine's self-speculative one."""
    if models.draft is not None:
        return models.draft
    from decoding.models.early_exit import early_exit_draft

    return early_exit_draft(models.target, config.early_exit_layers)


def _stop_criteria(tokenizer: Any, stop_text: str | None) -> Any:
    """The closing-fence stop as a ready criterion (``stop_strings=`` breaks with an assistant model)."""
    from transformers import StoppingCriteriaList, StopStringCriteria

    return StoppingCriteriaList([StopStringCriteria(tokenizer, [stop_text])] if stop_text else [])
