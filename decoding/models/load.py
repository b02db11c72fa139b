"""Load the target (and optional draft) model and tokenizer for the decoding engine.

Policy lives here: which device, which precision (4-bit NF4 targets on CUDA, float32 on CPU, where
bitsandbytes 4-bit decodes several times slower), and the checks that make failures readable (draft
and target must share a tokenizer; out-of-memory becomes advice). Where weights come from is
``model_store``'s job. torch and transformers are imported inside functions so that importing this
module (for types, or from the CLI) stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decoding.models.builtin import builtin_gguf, ensure_builtin_model
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

    from decoding.models.llamacpp import LlamaCppModel

__all__ = [
    "FetchError",
    "LoadedModels",
    "ModelError",
    "ModelInfo",
    "ModelSource",
    "Progress",
    "TuningDraft",
    "cache_dir",
    "ensure_builtin",
    "list_models",
    "load_draft_for_tuning",
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
ENGINES = ("auto", "torch", "llamacpp")
_OOM_ADVICE = (
    "Try a smaller model, --device cpu (uses system memory instead of GPU memory), or --load-in-4bit "
    "(CUDA) to quarter the weights' memory."
)


@dataclass
class LoadedModels:
    """What the engine needs: models in eval mode on ``device`` and the shared tokenizer."""

    target: PreTrainedModel | LlamaCppModel
    draft: PreTrainedModel | LlamaCppModel | None  # None: the engine builds an early-exit draft (torch)
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    target_name: str
    draft_name: str | None

    @property
    def engine(self) -> str:
        """``llama.cpp`` or ``torch``: who runs the target (LoRA tuning and hf baselines need torch)."""
        from decoding.models.llamacpp import LlamaCppModel

        return LlamaCppModel.name if isinstance(self.target, LlamaCppModel) else "torch"

    def describe(self) -> str:
        """One line for status bars and commit trailers, e.g. ``smollm2 · float32 · cpu``.

        A llama.cpp model names its engine (``smollm2 · Q4_1 · llama.cpp · cpu``); the torch engine is
        implied by a torch dtype.
        """
        parts = [self.target_name, *_precision(self.target)]
        if self.draft is not None:
            parts += [f"draft {self.draft_name}", *_precision(self.draft)]
        return " · ".join([*parts, str(self.device)])


def load_models(
    model: str = "smollm2",
    draft: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    load_in_4bit: bool | None = None,
    progress: Progress | None = None,
    engine: str = "torch",
) -> LoadedModels:
    """Resolve, fetch/convert if needed, and load target, draft and tokenizer; raises ModelError.

    ``engine`` picks who runs each model: ``torch``, ``llamacpp`` (GGUF weights as they are, on
    llama.cpp's quantized CPU kernels) or ``auto`` (llama.cpp for a GGUF on CPU, else torch); target
    and draft are decided separately, so a GGUF target may have a torch draft and vice versa.
    """
    report = progress or _silent
    draft = default_draft(model, draft)  # qwen-coder-1.5b brings qwen-coder-0.5b unless told otherwise
    target_src = resolve_model(model)
    draft_src = resolve_model(draft) if draft else None
    dev = _pick_device(device)
    four_bit = dev.type == "cuda" if load_in_4bit is None else load_in_4bit
    if four_bit and dev.type != "cuda":
        report("4-bit on CPU: bitsandbytes decodes several times slower than float32 there", None)

    target_gguf = _llamacpp_weights(engine, target_src, dev, report)
    draft_gguf = _llamacpp_weights(engine, draft_src, dev, report) if draft_src else None
    if target_gguf is not None:
        return _load_with_llamacpp(target_src, target_gguf, draft_src, draft_gguf, dev, dtype, report)

    target_path = _local_checkpoint(target_src, report)
    draft_path = _local_checkpoint(draft_src, report) if draft_src else None
    tokenizer = _shared_tokenizer(target_path, target_src, draft_path, draft_src, report)

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


@dataclass
class TuningDraft:
    """A separate draft loaded alone in torch for ``specedit tune``, and what the tuning must know."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase  # the target's: training examples are the prompts it receives
    device: torch.device
    target_name: str
    draft_name: str
    gguf: Path | None  # the GGUF llama.cpp runs for this draft (builtin alias or .gguf), else None


def load_draft_for_tuning(
    model: str, draft: str, device: str = "auto", dtype: str = "auto", progress: Progress | None = None
) -> TuningDraft:
    """The separate draft in torch plus the target's tokenizer, never the target's weights.

    Tuning a separate draft needs nothing else from the target: loading Qwen2.5-Coder-1.5B in float32
    would cost 6 GB and minutes for nothing. The tokenizer comes from the target's GGUF (its metadata
    only) or checkpoint folder, and is checked against the draft's as at every load.
    """
    report = progress or _silent
    target_src, draft_src = resolve_model(model), resolve_model(draft)
    dev = _pick_device(device)
    gguf = gguf_file(draft_src, report)
    draft_path = _local_checkpoint(draft_src, report)
    target_gguf = gguf_file(target_src, report)
    target_tokenizer = str(target_gguf) if target_gguf else _local_checkpoint(target_src, report)
    tokenizer = _shared_tokenizer(target_tokenizer, target_src, draft_path, draft_src, report)
    torch_dtype = _pick_dtype(dtype, dev)
    check_memory(dev, [(draft_src.name, draft_path, torch_dtype, False)])
    report(f"loading draft {draft_src.name} ({_dtype_name(torch_dtype)}) on {dev}", None)
    weights = _load_weights(draft_path, draft_src, dev, torch_dtype, four_bit=False)
    return TuningDraft(weights, tokenizer, dev, target_src.name, draft_src.name, gguf)


def _shared_tokenizer(
    target_path: str,
    target_src: ModelSource,
    draft_path: str | None,
    draft_src: ModelSource | None,
    progress: Progress,
) -> PreTrainedTokenizerBase:
    """The target's tokenizer, after checking that the draft (if any) tokenizes the same way.

    Speculation compares token ids, so a draft with another vocabulary would be rejected at every
    position: refuse it at load time with both names, whichever engine runs either model.
    """
    tokenizer = _load_tokenizer(target_path, target_src, progress)
    if draft_src is not None and draft_path is not None:
        draft_tokenizer = _load_tokenizer(draft_path, draft_src, progress)
        _check_same_tokenizer(tokenizer, draft_tokenizer, target_src, draft_src)
    return tokenizer


def _silent(message: str, fraction: float | None) -> None:
    """Default progress sink."""


def _llamacpp_weights(engine: str, source: ModelSource, dev: torch.device, progress: Progress) -> Path | None:
    """The GGUF that llama.cpp should run for ``source``, or None when torch runs it.

    ``auto`` takes llama.cpp only where it wins: a GGUF on the CPU (5-10x our float32 torch path,
    issue #20) with llama-cpp-python installed; on CUDA the torch path (4-bit NF4) stays.
    """
    if engine not in ENGINES:
        raise ModelError(f"Unknown engine {engine!r}; use {', '.join(ENGINES)}.")
    is_gguf = source.kind in ("gguf", "builtin")  # every builtin alias is a GGUF
    auto_torch = not is_gguf or dev.type != "cpu" or not llamacpp_available()
    if engine == "torch" or (engine == "auto" and auto_torch):
        return None
    if not is_gguf:
        raise ModelError(
            f"--engine llamacpp runs GGUF files, and {source.name} is a transformers checkpoint; pass a "
            ".gguf file (or a builtin alias), or use --engine torch."
        )
    if dev.type != "cpu":
        progress("llama.cpp runs on the CPU in this build; the GPU stays unused", None)
    return gguf_file(source, progress)


def gguf_file(source: ModelSource, progress: Progress) -> Path | None:
    """The GGUF file behind a builtin alias or a .gguf path (fetched if need be); None for checkpoints."""
    if source.kind == "builtin":
        return builtin_gguf(source.name, progress)
    return source.path if source.kind == "gguf" else None


def _load_with_llamacpp(
    target_src: ModelSource,
    target_gguf: Path,
    draft_src: ModelSource | None,
    draft_gguf: Path | None,
    dev: torch.device,
    dtype: str,
    progress: Progress,
) -> LoadedModels:
    """A llama.cpp target; the draft too when it is a GGUF, else a torch draft on ``dev``."""
    from decoding.models.llamacpp import LlamaCppModel

    draft_model: PreTrainedModel | LlamaCppModel | None = None
    draft_path = None
    if draft_src is not None:
        draft_path = str(draft_gguf) if draft_gguf else _local_checkpoint(draft_src, progress)
    tokenizer = _shared_tokenizer(str(target_gguf), target_src, draft_path, draft_src, progress)
    progress(f"loading {target_src.name} ({target_gguf.name}) with llama.cpp", None)
    target = LlamaCppModel(target_gguf)
    if draft_src is not None and draft_gguf is not None:
        progress(f"loading draft {draft_src.name} ({draft_gguf.name}) with llama.cpp", None)
        draft_model = LlamaCppModel(draft_gguf, target=False)
    elif draft_src is not None:
        draft_dtype = _pick_dtype(dtype, dev)
        progress(f"loading draft {draft_src.name} ({_dtype_name(draft_dtype)}) on {dev}", None)
        draft_model = _load_weights(draft_path, draft_src, dev, draft_dtype, four_bit=False)
    progress(f"{target_src.name} ready", 1.0)
    return LoadedModels(
        target=target,
        draft=draft_model,
        tokenizer=tokenizer,
        device=dev if draft_src is not None and draft_gguf is None else _cpu(),  # where torch runs, if at all
        target_name=target_src.name,
        draft_name=draft_src.name if draft_src else None,
    )


def llamacpp_available() -> bool:
    """Whether llama-cpp-python is installed (without importing it: that loads the native library)."""
    from importlib.util import find_spec

    return find_spec("llama_cpp") is not None


def _cpu() -> torch.device:
    import torch

    return torch.device("cpu")


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


def _precision(model: PreTrainedModel | LlamaCppModel) -> list[str]:
    """``[nf4]`` for a bitsandbytes 4-bit model, the dtype for torch, ``[Q4_1, llama.cpp]`` for a GGUF."""
    from decoding.models.llamacpp import LlamaCppModel

    if isinstance(model, LlamaCppModel):
        return [model.quantization, model.name]
    quantizer = getattr(model, "hf_quantizer", None)
    config = getattr(quantizer, "quantization_config", None)
    if config is not None and getattr(config, "load_in_4bit", False):
        return [str(config.bnb_4bit_quant_type)]
    return [_dtype_name(model.dtype)]  # type: ignore[union-attr]


def _load_tokenizer(path: str, source: ModelSource, progress: Progress) -> PreTrainedTokenizerBase:
    """From a checkpoint folder, a hub id, or a GGUF file (its embedded tokenizer; no weights read)."""
    from transformers import AutoTokenizer

    progress(f"loading the tokenizer of {source.name}", None)
    gguf = Path(path) if path.lower().endswith(".gguf") else None
    try:
        with quiet_transformers():
            if gguf is not None:
                tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            else:
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
