"""Load the target (and optional draft) model and tokenizer for the decoding engine.

Policy lives here: which device, which precision (4-bit NF4 targets on CUDA, float32 on CPU, where
bitsandbytes 4-bit decodes several times slower), and the checks that make failures readable (draft
and target must share a tokenizer; out-of-memory becomes advice). Where weights come from is
``model_store``'s job. torch and transformers are imported inside functions so that importing this
module (for types, or from the CLI) stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from decoding.models.builtin import ensure_builtin_model
from decoding.models.catalog import default_draft
from decoding.models.memory import check_memory
from decoding.models.store import (
    CHATML_TEMPLATE,
    FetchError,
    ModelError,
    ModelInfo,
    ModelSource,
    Progress,
    cache_dir,
    ensure_builtin,
    ensure_gguf,
    list_models,
    quiet_transformers,
    resolve_model,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "FetchError",
    "LoadedModels",
    "ModelError",
    "ModelInfo",
    "ModelSource",
    "Progress",
    "cache_dir",
    "ensure_builtin",
    "list_models",
    "load_models",
    "resolve_model",
]

_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}
_OOM_ADVICE = (
    "Try a smaller model, --device cpu (uses system memory instead of GPU memory), or --load-in-4bit "
    "(CUDA) to quarter the weights' memory."
)


@dataclass
class LoadedModels:
    """What the engine needs: models in eval mode on ``device`` and the shared tokenizer."""

    target: PreTrainedModel
    draft: PreTrainedModel | None  # None: the engine builds a self-speculative early-exit draft
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    target_name: str
    draft_name: str | None

    def describe(self) -> str:
        """One line for status bars and commit trailers, e.g. ``smollm2 · float32 · cpu``."""
        parts = [self.target_name, _precision(self.target)]
        if self.draft is not None:
            parts += [f"draft {self.draft_name}", _precision(self.draft)]
        return " · ".join([*parts, str(self.device)])


def load_models(
    model: str = "smollm2",
    draft: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    load_in_4bit: bool | None = None,
    progress: Progress | None = None,
) -> LoadedModels:
    """Resolve, fetch/convert if needed, and load target, draft and tokenizer; raises ModelError."""
    report = progress or _silent
    draft = default_draft(model, draft)  # qwen-coder-1.5b brings qwen-coder-0.5b unless told otherwise
    target_src = resolve_model(model)
    draft_src = resolve_model(draft) if draft else None
    dev = _pick_device(device)
    four_bit = dev.type == "cuda" if load_in_4bit is None else load_in_4bit
    if four_bit and dev.type != "cuda":
        report("4-bit on CPU: bitsandbytes decodes several times slower than float32 there", None)

    target_path = _local_checkpoint(target_src, report)
    draft_path = _local_checkpoint(draft_src, report) if draft_src else None
    tokenizer = _load_tokenizer(target_path, target_src, report)
    if draft_src is not None:
        draft_tokenizer = _load_tokenizer(draft_path, draft_src, report)
        _check_same_tokenizer(tokenizer, draft_tokenizer, target_src, draft_src)

    target_dtype = _pick_dtype(dtype, dev)
    sizes = [(target_src.name, target_path, target_dtype, four_bit)]
    check_memory(dev, sizes + ([(draft_src.name, draft_path, target_dtype, False)] if draft_path else []))
    report(f"loading {target_src.name} ({'nf4' if four_bit else _dtype_name(target_dtype)}) on {dev}", None)
    target = _load_weights(target_path, target_src, dev, target_dtype, four_bit)
    draft_model = None
    if draft_src is not None:
        report(f"loading draft {draft_src.name} ({_dtype_name(target_dtype)}) on {dev}", None)
        draft_model = _load_weights(draft_path, draft_src, dev, target_dtype, four_bit=False)
    report(f"{target_src.name} ready", 1.0)
    return LoadedModels(
        target=target,
        draft=draft_model,
        tokenizer=tokenizer,
        device=dev,
        target_name=target_src.name,
        draft_name=draft_src.name if draft_src else None,
    )


def _silent(message: str, fraction: float | None) -> None:
    """Default progress sink."""


def _local_checkpoint(source: ModelSource, progress: Progress) -> str:
    """What to hand ``from_pretrained``: a folder (builtin and GGUF are converted first) or a hub id."""
    if source.kind == "builtin":
        return str(ensure_builtin_model(source.name, progress))
    if source.kind == "gguf":
        assert source.path is not None
        return str(ensure_gguf(source.path, progress))
    return str(source.path) if source.path is not None else source.spec


def _pick_device(spec: str) -> torch.device:
    """A concrete device (``cuda:0``, not ``cuda``), so describe() and device maps name the same GPU."""
    import torch

    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(spec)
    except RuntimeError as exc:
        raise ModelError(f"Unknown device {spec!r}; use auto, cpu, cuda or cuda:N.") from exc
    if dev.type not in ("cpu", "cuda"):
        raise ModelError(f"Device {spec!r} is not supported; use auto, cpu, cuda or cuda:N.")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelError(f"--device {spec} asked for CUDA, but torch sees no CUDA GPU; use --device cpu.")
        if dev.index is None:
            return torch.device("cuda", torch.cuda.current_device())
        if dev.index >= torch.cuda.device_count():
            raise ModelError(f"--device {spec}: torch sees only {torch.cuda.device_count()} CUDA GPU(s).")
    return dev


def _pick_dtype(spec: str, dev: torch.device) -> torch.dtype:
    """float32 on CPU (fastest there, and exact for dequantized GGUF); bf16 (else fp16) on CUDA."""
    import torch

    if spec == "auto":
        if dev.type == "cpu":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    name = _DTYPES.get(spec.lower())
    if name is None:
        raise ModelError(f"Unknown dtype {spec!r}; use auto, float32, bfloat16 or float16.")
    return getattr(torch, name)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _precision(model: PreTrainedModel) -> str:
    """``nf4`` for a bitsandbytes 4-bit model, else its dtype name."""
    quantizer = getattr(model, "hf_quantizer", None)
    config = getattr(quantizer, "quantization_config", None)
    if config is not None and getattr(config, "load_in_4bit", False):
        return str(config.bnb_4bit_quant_type)
    return _dtype_name(model.dtype)


def _load_tokenizer(path: str, source: ModelSource, progress: Progress) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    progress(f"loading the tokenizer of {source.name}", None)
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise _load_error(source, exc) from exc
    if not tokenizer.chat_template:
        progress(f"{source.name} has no chat template; using ChatML", None)
        tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def _check_same_tokenizer(
    target: PreTrainedTokenizerBase,
    draft: PreTrainedTokenizerBase,
    target_src: ModelSource,
    draft_src: ModelSource,
) -> None:
    """Speculation compares token ids, so both models must map text to the same ids."""
    target_vocab, draft_vocab = target.get_vocab(), draft.get_vocab()
    if target_vocab == draft_vocab:
        return
    differing = sorted(set(target_vocab.items()) ^ set(draft_vocab.items()), key=lambda item: item[1])[:3]
    raise ModelError(
        f"The draft {draft_src.name} and the target {target_src.name} use different tokenizers "
        f"({len(draft_vocab)} vs {len(target_vocab)} tokens; e.g. {', '.join(repr(t) for t, _ in differing)} "
        "differ), so the draft cannot propose tokens for the target. Pick a draft from the same model "
        "family (e.g. Qwen2.5-Coder-0.5B for Qwen2.5-Coder-7B), or leave --draft out to use the target's "
        "own first layers as the draft."
    )


def _load_weights(
    path: str, source: ModelSource, dev: torch.device, dtype: torch.dtype, four_bit: bool
) -> PreTrainedModel:
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": dtype}
    if four_bit:
        kwargs["quantization_config"] = _nf4_config(compute_dtype=dtype)
    if four_bit or dev.type == "cuda":
        kwargs["device_map"] = {"": str(dev)}  # bitsandbytes places weights at load time
    try:
        with quiet_transformers():
            model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise _oom_error(source, dev) from exc
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower():
            raise _oom_error(source, dev) from exc
        raise _load_error(source, exc) from exc
    except (OSError, ValueError, ImportError) as exc:
        raise _load_error(source, exc) from exc
    return model.eval()


def _nf4_config(compute_dtype: torch.dtype) -> Any:
    """BitsAndBytesConfig for NF4; bitsandbytes is optional, so a missing install is a clear error."""
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as exc:
        raise ModelError(
            f"4-bit loading needs bitsandbytes, which is not importable ({exc}). Install it with "
            "`pip install bitsandbytes`, or pass --no-4bit."
        ) from exc
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=compute_dtype,
        bnb_4bit_use_double_quant=True,
    )


def _oom_error(source: ModelSource, dev: torch.device) -> ModelError:
    return ModelError(f"Out of memory while loading {source.name} on {dev}. {_OOM_ADVICE}")


def _load_error(source: ModelSource, exc: BaseException) -> ModelError:
    hint = (
        "Check the id and your internet connection (hub models download on first use), or pass a local "
        "folder, a .gguf file, or the builtin smollm2."
        if source.kind == "hub"
        else f"The files at {source.path} may be incomplete; re-download or re-convert them."
    )
    return ModelError(f"Could not load {source.name}: {exc}\n{hint}")
