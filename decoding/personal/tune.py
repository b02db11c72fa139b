"""LoRA fine-tuning of the draft on the user's accepted edits (SpeCoder-style personalisation).

Speed hinges on how often the target accepts the draft's tokens, and what a user accepts repeats:
their code style, their kind of instructions. Training the draft on the accepted-edit log raises
that acceptance without touching the target, so the output stays token-identical to plain greedy
decoding of the target.

The builtin draft is self-speculative: the target's first k layers + final norm + LM head, sharing
the target's weights. A LoRA injected there would change the target too, so the adapter is trained
on, and later loaded into, a separate early-exit model whose k decoder layers are *copies*; only the
embeddings, final norm and LM head (which LoRA never touches) are shared to save memory.

A separate draft (Qwen2.5-Coder-0.5B for the 1.5B) is trained alone: the target is not needed.
Training is torch's, but the default pair runs on llama.cpp, so a GGUF draft's LoRA is also exported
as a llama.cpp adapter (:mod:`decoding.personal.gguf_adapter`) that its llama.cpp draft runs.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.atomic import atomic_write_text
from common.paths import adapters_dir
from decoding.models.early_exit import default_exit_layers
from decoding.models.load import LoadedModels
from decoding.models.store import ModelError
from decoding.personal.gguf_adapter import ADAPTER_GGUF, write_gguf_adapter
from decoding.personal.log import EditRecord
from decoding.prompts import render_prompt

METADATA_NAME = "specedit_adapter.json"
log = logging.getLogger(__name__)

SELF_DRAFT = "self"  # metadata "draft" value for an early-exit copy of the target


# Learning rates by draft (docs/benchmarks.md): the 135M early-exit draft starts at ~2 % agreement and
# needs a bold rate; the separate 0.5B starts at 96 %, and 2e-3 cut it to 84 % on held-apart edits.
SELF_DRAFT_LR = 2e-3
SEPARATE_DRAFT_LR = 2e-4
VALIDATION_EVERY = 5  # one logged edit in five is kept out of training to check the tuned draft on
MIN_VALIDATED = 5  # a smaller log trains on every edit and cannot be checked


@dataclass(frozen=True)
class TuneConfig:
    steps: int = 80
    lora_r: int = 8
    lora_alpha: int | None = None  # default 2 * lora_r
    lr: float | None = None  # None: by draft, SELF_DRAFT_LR or SEPARATE_DRAFT_LR
    max_tokens: int = 2048  # longer examples lose the end of their output
    seed: int = 0

    def __post_init__(self) -> None:
        bad_lr = self.lr is not None and self.lr <= 0
        if self.steps < 1 or self.lora_r < 1 or bad_lr or self.max_tokens < 2:
            raise ValueError(f"invalid tuning settings: {self}")

    def for_draft(self, self_draft: bool) -> TuneConfig:
        """These settings with the learning rate that suits the kind of draft, unless one was given."""
        if self.lr is not None:
            return self
        return replace(self, lr=SELF_DRAFT_LR if self_draft else SEPARATE_DRAFT_LR)


@dataclass(frozen=True)
class Example:
    """Prompt and output token ids; the loss covers only the output (the prompt is given, not learned)."""

    input_ids: tuple[int, ...]
    prompt_len: int

    @property
    def output_len(self) -> int:
        return len(self.input_ids) - self.prompt_len


def build_examples(records: Sequence[EditRecord], tokenizer: Any, max_tokens: int) -> list[Example]:
    """One example per record: the exact prompt the engine sends, then the model's raw answer + EOS.

    The raw answer (not the user's hunk selection) is what the target generated, hence what the
    draft must predict for the target to accept it. Records whose prompt alone fills ``max_tokens``
    are skipped: there would be nothing left to learn from.
    """
    eos = tokenizer.eos_token_id
    examples = []
    for record in records:
        prompt = tokenizer(render_prompt(tokenizer, record.request), add_special_tokens=False)["input_ids"]
        output = tokenizer(record.raw, add_special_tokens=False)["input_ids"]
        if eos is not None:
            output = [*output, eos]
        ids = (list(prompt) + list(output))[:max_tokens]
        if len(ids) > len(prompt):
            examples.append(Example(tuple(ids), len(prompt)))
    return examples


def _layer_index(name: str) -> int | None:
    """``model.layers.3.mlp.up_proj.weight`` -> 3; None for anything outside the decoder stack."""
    parts = name.split(".")
    for part, following in zip(parts, parts[1:], strict=False):
        if part == "layers" and following.isdigit():
            return int(following)
    return None


def _set_tensor(root: nn.Module, name: str, tensor: torch.Tensor) -> None:
    parent_name, _, leaf = name.rpartition(".")
    parent = root.get_submodule(parent_name)
    if leaf in parent._parameters:
        parent._parameters[leaf] = tensor if isinstance(tensor, nn.Parameter) else nn.Parameter(tensor)
    else:
        parent._buffers[leaf] = tensor


def early_exit_copy(target: nn.Module, k: int | None = None) -> nn.Module:
    """A standalone causal LM made of the target's first ``k`` layers (copied) + its norm and LM head.

    ``k`` defaults to the engine's self-speculative depth. The copy computes exactly what
    :func:`decoding.models.early_exit.early_exit_draft` computes, exposes the usual
    cached ``forward`` interface (:data:`decoding.engine.kv.CACHE_ARG`), and can take a
    LoRA adapter without any effect on ``target``.
    """
    if getattr(target, "hf_quantizer", None) is not None or getattr(target, "is_quantized", False):
        raise ValueError(
            "cannot tune a self-speculative draft of a quantized target; pass a separate --draft"
        )
    n_layers = target.config.num_hidden_layers
    k = default_exit_layers(n_layers) if k is None else k
    if not 1 <= k < n_layers:
        raise ValueError(f"draft layers k must be between 1 and {n_layers - 1}, got {k}")
    config = copy.deepcopy(target.config)
    config.num_hidden_layers = k
    if isinstance(getattr(config, "layer_types", None), list):
        config.layer_types = config.layer_types[:k]
    with torch.device("meta"):
        draft = type(target)(config)
    sources = dict(target.named_parameters(remove_duplicate=False))
    sources.update(target.named_buffers(remove_duplicate=False))
    with torch.no_grad():
        for name, _ in [
            *draft.named_parameters(remove_duplicate=False),
            *draft.named_buffers(remove_duplicate=False),
        ]:
            src = sources[name]
            shared = _layer_index(name) is None and isinstance(src, nn.Parameter)
            _set_tensor(draft, name, src if shared else src.detach().clone())
    draft.generation_config = copy.deepcopy(target.generation_config)
    return draft.eval()


def layer_linear_names(model: nn.Module) -> list[str]:
    """LoRA targets: the linear layers inside the decoder stack (never the shared LM head)."""
    return sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and _layer_index(name) is not None
        }
    )


def _output_logits(model: nn.Module, example: Example) -> torch.Tensor:
    """Logits predicting each output token (teacher-forced), computed only where the loss needs them."""
    device = next(model.parameters()).device
    ids = torch.tensor([example.input_ids], device=device)
    out = model(input_ids=ids, use_cache=False, logits_to_keep=example.output_len + 1)
    return out.logits[0, :-1]


def _labels(example: Example, device: torch.device) -> torch.Tensor:
    return torch.tensor(example.input_ids[example.prompt_len :], device=device)


@torch.no_grad()
def greedy_predictions(model: nn.Module, examples: Sequence[Example]) -> list[torch.Tensor]:
    """The model's argmax for every output position, each given the true prefix."""
    was_training = model.training
    model.eval()
    preds = [_output_logits(model, ex).argmax(-1).cpu() for ex in examples]
    model.train(was_training)
    return preds


def agreement(predictions: Sequence[torch.Tensor], references: Sequence[torch.Tensor]) -> float:
    """Fraction of positions where two models' greedy tokens agree: the draft's per-token acceptance
    rate when ``references`` are the target's own predictions."""
    total = sum(len(r) for r in references)
    same = sum(int((p == r).sum()) for p, r in zip(predictions, references, strict=True))
    return same / total if total else 0.0


def output_tokens(examples: Sequence[Example]) -> list[torch.Tensor]:
    return [torch.tensor(ex.input_ids[ex.prompt_len :]) for ex in examples]


ProgressFn = Callable[[int, int, float], None]  # (step, steps, loss)


@contextlib.contextmanager
def _peft_wrapping() -> Iterator[None]:
    """Hide the one FutureWarning that peft's ``PeftModel.__init__`` itself triggers.

    peft (up to 0.21 at least) reads ``model.is_gradient_checkpointing``, which transformers 5.x
    deprecates; a user can do nothing about it, and our own code never calls it. Only that message is
    filtered, only around peft's wrapping, so any other warning still reaches the user.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def train_lora(
    draft: nn.Module, examples: Sequence[Example], config: TuneConfig, progress: ProgressFn | None = None
) -> nn.Module:
    """Wrap ``draft`` with a fresh LoRA and train it; returns the peft model (``draft`` is modified)."""
    from peft import LoraConfig, get_peft_model

    if not examples:
        raise ValueError("no training examples: accept some edits first (the log is empty)")
    if config.lr is None:
        raise ValueError("no learning rate: use TuneConfig.for_draft() first")
    torch.manual_seed(config.seed)
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha or 2 * config.lora_r,
        lora_dropout=0.0,
        target_modules=layer_linear_names(draft),
        task_type="CAUSAL_LM",
    )
    with _peft_wrapping():
        model = get_peft_model(draft, lora)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 5))  # short warm-up
    order: list[Example] = []
    rng = random.Random(config.seed)
    for step in range(1, config.steps + 1):
        if not order:
            order = list(examples)
            rng.shuffle(order)
        example = order.pop()
        logits = _output_logits(model, example)
        loss = nn.functional.cross_entropy(logits.float(), _labels(example, logits.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        if progress is not None:
            progress(step, config.steps, loss.item())
    model.eval()
    return model


def save_adapter(
    model: nn.Module, adapter_dir: Path, metadata: dict[str, Any], gguf_base: Path | None = None
) -> None:
    """Save the LoRA weights and our metadata, replacing any previous adapter only once all are written.

    With ``gguf_base`` (the GGUF that llama.cpp runs for this draft) the LoRA is also exported as
    ``adapter.gguf``; an export that fails leaves the previous adapter in place.
    """
    adapter_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{adapter_dir.name}.", dir=adapter_dir.parent))
    try:
        model.save_pretrained(str(staging))
        if gguf_base is not None:
            write_gguf_adapter(staging, gguf_base)
        atomic_write_text(staging / METADATA_NAME, json.dumps(metadata, indent=2))
        if adapter_dir.exists():
            shutil.rmtree(adapter_dir)
        staging.rename(adapter_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def read_metadata(adapter_dir: Path) -> dict[str, Any]:
    path = adapter_dir / METADATA_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{adapter_dir} is not a specedit draft adapter ({exc})") from exc


def load_tuned_draft(base: nn.Module, adapter_dir: Path) -> nn.Module:
    """The tuned draft as a plain causal LM, LoRA merged in (no adapter overhead per forward).

    ``base`` is the target for a self-speculative adapter (an early-exit copy is built, the target is
    left untouched) or the separate draft model the adapter was trained on (modified in place).
    """
    from peft import PeftModel

    meta = read_metadata(adapter_dir)
    k = meta.get("k")
    module = early_exit_copy(base, int(k)) if meta.get("draft") == SELF_DRAFT else base
    with _peft_wrapping():
        tuned = PeftModel.from_pretrained(module, str(adapter_dir))
    return tuned.merge_and_unload().eval()


def adapter_slug(model_name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "--" for c in model_name).strip(".") or "model"


def adapter_dir_for(target_name: str, draft_name: str | None = None) -> Path:
    """``adapters_dir()/<name>/``: the separate draft's name, else the target's (self-speculative)."""
    return adapters_dir() / adapter_slug(draft_name or target_name)


def find_adapter(target_name: str, draft_name: str | None = None) -> Path | None:
    """The saved adapter for this draft, if ``specedit tune`` has produced one."""
    path = adapter_dir_for(target_name, draft_name)
    return path if (path / METADATA_NAME).is_file() else None


def use_tuned_draft(models: LoadedModels, adapter_dir: Path | None = None) -> bool:
    """Swap in the tuned draft when an adapter exists; the draft name then says ``tuned`` (status bar).

    Only the draft changes (a torch draft gets the LoRA merged in, a llama.cpp draft runs the
    ``adapter.gguf`` exported next to it), so every method still yields the target's greedy output.
    An adapter that no longer fits (another draft, a 4-bit target, a damaged file) is skipped with a
    warning: personalisation must never stop the user from editing.
    """
    if adapter_dir is None and models.draft is None and models.engine != "torch":
        return False  # llama.cpp runs no early-exit draft: a self-speculative adapter has nothing to tune
    found = adapter_dir or find_adapter(models.target_name, models.draft_name)
    if found is None:
        return False
    try:
        meta = read_metadata(found)
        self_draft = meta.get("draft") == SELF_DRAFT
        base = models.target if self_draft else models.draft
        if base is None:
            raise ValueError(f"it was trained on the draft {meta.get('draft')!r}; pass --draft to use it")
        if models.engine != "torch" and self_draft:
            raise ValueError("a self-speculative adapter needs the torch engine (--engine torch)")
        if isinstance(base, nn.Module):
            models.draft = load_tuned_draft(base, found)
        else:
            _apply_gguf_adapter(base, found)
    except (ValueError, OSError, RuntimeError, ModelError) as exc:
        log.warning("tuned draft in %s not used: %s", found, exc)
        return False
    label = f"self k={meta.get('k')}" if self_draft else str(meta.get("draft"))
    models.draft_name = f"tuned ({label})"
    return True


def _apply_gguf_adapter(draft: Any, adapter_dir: Path) -> None:
    """Give a llama.cpp draft the adapter's GGUF export (written by ``specedit tune`` for GGUF drafts)."""
    gguf = adapter_dir / ADAPTER_GGUF
    if not gguf.is_file():
        raise ValueError(f"it has no {ADAPTER_GGUF} for llama.cpp; run `specedit tune` again")
    draft.use_adapter(gguf)


@dataclass(frozen=True)
class TuneResult:
    adapter_dir: Path
    examples: int  # trained on
    agreement_before: float  # draft's greedy agreement with the logged answers, before tuning
    agreement_after: float
    held_out: int  # logged edits the agreement was measured on, kept out of training (0: the training ones)
    saved: bool  # False: the tuned draft did worse on the held-out edits, so the adapter was not kept


def split_for_validation(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """(train, held out): every ``VALIDATION_EVERY``-th example checks the tuned draft, once there are enough.

    Agreement on the training edits only shows the draft memorised them; a draft that was already good
    (the 0.5B agrees with the 1.5B on 96 % of tokens) can come out of tuning worse on new edits.
    """
    if len(examples) < MIN_VALIDATED:
        return list(examples), []
    held = [ex for i, ex in enumerate(examples) if i % VALIDATION_EVERY == 0]
    return [ex for i, ex in enumerate(examples) if i % VALIDATION_EVERY], held


def tune_models(
    models: LoadedModels,
    records: Sequence[EditRecord],
    config: TuneConfig,
    k: int | None = None,
    adapter_dir: Path | None = None,
    progress: ProgressFn | None = None,
    measure_limit: int = 16,
) -> TuneResult:
    """Train a LoRA for the draft ``models`` would use (separate, or an early-exit copy of the target)."""
    if models.draft is None:
        draft = early_exit_copy(models.target, k)
        draft_label, k = SELF_DRAFT, draft.config.num_hidden_layers
    else:
        draft, draft_label, k = models.draft, models.draft_name or "draft", None
    return tune_draft(
        draft,
        models.tokenizer,
        records,
        config,
        base_model=models.target_name,
        draft_label=draft_label,
        k=k,
        adapter_dir=adapter_dir or adapter_dir_for(models.target_name, models.draft_name),
        progress=progress,
        measure_limit=measure_limit,
    )


def tune_draft(
    draft: nn.Module,
    tokenizer: Any,
    records: Sequence[EditRecord],
    config: TuneConfig,
    *,
    base_model: str,
    draft_label: str,
    adapter_dir: Path,
    k: int | None = None,
    gguf_base: Path | None = None,
    progress: ProgressFn | None = None,
    measure_limit: int = 16,
) -> TuneResult:
    """Train a LoRA on ``draft`` (modified in place) from the log's records; keep it if it does not hurt.

    ``tokenizer`` must be the target's: the examples are the exact prompts the engine sends it. With
    ``gguf_base`` the adapter is exported for llama.cpp too. The before/after agreement is measured on
    (at most ``measure_limit``) held-out edits (:func:`split_for_validation`), and an adapter that makes
    the draft agree less with them is not saved: any adapter already in ``adapter_dir`` stays. A log too
    small to split is measured on its training edits, which shows only that the draft learnt them;
    ``specedit bench`` measures real speed.
    """
    examples = build_examples(records, tokenizer, config.max_tokens)
    if not examples:
        raise ValueError("no usable examples in the edit log: accept some edits first")
    config = config.for_draft(draft_label == SELF_DRAFT)
    train, held = split_for_validation(examples)
    probe = (held or train)[:measure_limit]
    labels = output_tokens(probe)
    before = agreement(greedy_predictions(draft, probe), labels)
    tuned = train_lora(draft, train, config, progress)
    after = agreement(greedy_predictions(tuned, probe), labels)
    saved = not held or after >= before
    if saved:
        metadata = {
            "base_model": base_model,
            "draft": draft_label,
            "k": k,
            "examples": len(train),
            "held_out": len(held),
            "agreement_before": before,
            "agreement_after": after,
            "created": time.time(),
            **asdict(config),
        }
        save_adapter(tuned, adapter_dir, metadata, gguf_base)
    return TuneResult(adapter_dir, len(train), before, after, len(probe) if held else 0, saved)
