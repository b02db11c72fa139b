"""Refuse to load a model that cannot fit, with advice, instead of letting the OOM killer end the app.

A kernel OOM kill gives no message at all (the process just vanishes, the TUI with it), so the check
runs before any weight is read. The need is estimated from the checkpoint's safetensors headers
(parameter count, no tensor data read) times the bytes per parameter of the precision it will load in,
plus a margin for the KV cache, activations and the allocator. 4-bit NF4 counts 0.6 bytes per
parameter: embeddings and norms stay in full precision.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from decoding.models.store import ModelError

if TYPE_CHECKING:
    import torch

_MARGIN = 1.25
_GB = 1e9


def parameter_count(checkpoint: Path) -> int:
    """Parameters in the folder's safetensors files, read from their headers only."""
    from safetensors import safe_open

    total = 0
    for file in sorted(checkpoint.glob("*.safetensors")):
        with safe_open(str(file), "numpy") as weights:
            for key in weights.keys():  # noqa: SIM118 - safe_open handles are not iterable
                count = 1
                for dim in weights.get_slice(key).get_shape():
                    count *= dim
                total += count
    return total


def needed_bytes(parameters: int, bytes_per_parameter: float) -> int:
    return int(parameters * bytes_per_parameter * _MARGIN)


def available_bytes() -> int | None:
    """Memory the system can give without swapping (MemAvailable), None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(device: torch.device, models: Sequence[tuple[str, str, torch.dtype, bool]]) -> None:
    """The check ``load_models`` runs: (name, checkpoint folder or hub id, dtype, 4-bit) per model."""
    import torch

    if device.type == "cuda":
        available: int | None = torch.cuda.mem_get_info(device)[0]
        where = f"{device} (GPU memory)"
    else:
        available, where = available_bytes(), "this machine (RAM)"
    sized = [
        (name, Path(path), 0.6 if four_bit else torch.finfo(dtype).bits / 8)
        for name, path, dtype, four_bit in models
        if Path(path).is_dir()
    ]
    check_fits(sized, available, where)


def check_fits(checkpoints: Sequence[tuple[str, Path, float]], available: int | None, where: str) -> None:
    """Raise ModelError when the models together need more than ``available`` bytes.

    ``checkpoints`` are (name, folder, bytes per parameter); folders without safetensors (hub ids
    not yet downloaded) count as zero: their size is unknown until the download.
    """
    if available is None:
        return
    needs = [(name, needed_bytes(parameter_count(path), per)) for name, path, per in checkpoints]
    total = sum(need for _, need in needs)
    if total <= available:
        return
    detail = " + ".join(f"{name} {need / _GB:.1f} GB" for name, need in needs)
    raise ModelError(
        f"Not enough memory on {where}: loading needs about {total / _GB:.1f} GB ({detail}), "
        f"{available / _GB:.1f} GB is available.",
        hint="close other programs, pick a smaller model (e.g. --model qwen-coder-0.5b or smollm2), "
        "leave out --draft, or load in a smaller precision (--dtype bfloat16 halves float32's memory; "
        "--load-in-4bit on CUDA quarters it again).",
    )
