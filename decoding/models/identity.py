"""A loaded model's identity: what decides its greedy output, for keys that must not outlive the weights.

Only the target counts: every decoding method is lossless, so the draft, the method and the device change
the speed, never the text. What does count is which weights (hub id at its resolved commit, or a local
folder/GGUF file as it is on disk now) and at which precision they run (a 4-bit or bfloat16 target may
pick other tokens than float32). Hashing gigabytes of weights at every start would cost seconds, so local
files are fingerprinted by path, size and modification time, as build tools do.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from decoding.models.load import LoadedModels

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


def model_identity(models: LoadedModels) -> str:
    """``name@revision · precision`` of the target, stable across runs while its weights do not change."""
    target = models.target
    config = getattr(target, "config", None)  # a transformers model; llama.cpp models have a GGUF path
    if config is not None:
        source = str(getattr(config, "name_or_path", "") or models.target_name)
        revision = getattr(config, "_commit_hash", None) or _fingerprint(Path(source))
        dtype = str(getattr(target, "dtype", "")).removeprefix("torch.")
        precision = "nf4" if getattr(config, "quantization_config", None) is not None else dtype
        return f"{source}@{revision} · {precision}"
    path = Path(str(getattr(target, "path", models.target_name)))
    return f"{path}@{_fingerprint(path)} · gguf"


def _fingerprint(path: Path) -> str:
    """Size and mtime of the weight files at ``path`` (a file or a folder); ``missing`` when none."""
    files = [path] if path.is_file() else sorted(p for p in path.glob("*") if p.suffix in _WEIGHT_SUFFIXES)
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.is_file()]
    if not stats:
        return "missing"
    return hashlib.sha256(repr(stats).encode()).hexdigest()[:16]
