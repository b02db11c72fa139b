"""Export a PEFT LoRA of a GGUF draft as a llama.cpp adapter (``adapter.gguf``).

``specedit tune`` trains in torch, but the default pair runs on llama.cpp, which cannot read PEFT's
safetensors. llama.cpp's own ``convert_lora_to_gguf.py`` needs the HF base model and its source tree;
the format itself is small (src/llama-adapter.cpp): ``general.type = adapter``, the base GGUF's
architecture, ``adapter.type = lora``, ``adapter.lora.alpha``, and for every adapted weight
``<base tensor>.lora_a`` (PEFT's ``lora_A``, ``[r, in]``) and ``.lora_b`` (``lora_B``, ``[out, r]``).
llama.cpp scales ``B @ A`` by alpha / r, as PEFT does, so the weights go over as they are, except
that a Llama GGUF stores Q/K rows interleaved per head for its rotary kernel: ``lora_B`` of those
projections gets the same row permutation as their base weight got at conversion.

The tensor names and shapes are checked against the base GGUF before anything is written: an
adapter that llama.cpp would refuse (another model, an unsupported architecture) is refused here,
with the reason, instead of at the next start.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ADAPTER_GGUF = "adapter.gguf"

# HF linear module (inside ``model.layers.N.``) -> llama.cpp tensor (inside ``blk.N.``), qwen2 and llama.
HF_LINEAR_TO_GGUF = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
# Architectures whose converter permutes Q/K rows (convert_hf_to_gguf.py, LlamaModel.permute): True.
_ARCHS = {"llama": True, "qwen2": False}
_PEFT_KEY = re.compile(r"(?:^|\.)layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])\.weight$")


class AdapterExportError(ValueError):
    """The LoRA cannot become a llama.cpp adapter for this base GGUF (message says why)."""


@dataclass(frozen=True)
class BaseLayout:
    """What the export needs to know about the base GGUF: names and shapes, not weights."""

    arch: str
    shapes: Mapping[str, tuple[int, int]]  # tensor name -> (in, out), llama.cpp's ne[0], ne[1]
    heads: int
    kv_heads: int


def read_base_layout(base_gguf: Path) -> BaseLayout:
    """The base GGUF's architecture, head counts and 2-D tensor shapes (memory-mapped, no weights read)."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(base_gguf)
    except (OSError, ValueError) as exc:
        raise AdapterExportError(f"cannot read the base GGUF {base_gguf}: {exc}") from exc

    def field(key: str) -> Any:
        found = reader.fields.get(key)
        if found is None:
            raise AdapterExportError(f"the base GGUF {base_gguf} has no {key}")
        return found.contents()

    arch = str(field("general.architecture"))
    if arch not in _ARCHS:
        raise AdapterExportError(
            f"no llama.cpp LoRA export for the {arch!r} architecture (supported: {', '.join(_ARCHS)})"
        )
    heads = int(field(f"{arch}.attention.head_count"))
    kv = reader.fields.get(f"{arch}.attention.head_count_kv")
    shapes = {t.name: (int(t.shape[0]), int(t.shape[1])) for t in reader.tensors if len(t.shape) == 2}
    return BaseLayout(arch, shapes, heads, int(kv.contents()) if kv is not None else heads)


def permute_rows(rows: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's Q/K row order for a Llama GGUF: each head's two rotary halves interleaved."""
    half = rows.shape[0] // heads // 2
    return rows.reshape(heads, 2, half, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def gguf_lora_tensors(state: Mapping[str, np.ndarray], layout: BaseLayout) -> dict[str, np.ndarray]:
    """PEFT's ``lora_A``/``lora_B`` weights under llama.cpp's names, checked against ``layout``.

    Raises :class:`AdapterExportError` for a module llama.cpp has no name for, a tensor missing from
    the base GGUF, a shape that does not fit it, or an A without its B.
    """
    tensors: dict[str, np.ndarray] = {}
    for key, value in state.items():
        match = _PEFT_KEY.search(key)
        gguf = HF_LINEAR_TO_GGUF.get(match.group(2)) if match else None
        if match is None or gguf is None:
            raise AdapterExportError(f"no llama.cpp tensor for the LoRA weight {key}")
        layer, module, ab = match.groups()
        base = f"blk.{layer}.{gguf}.weight"
        if base not in layout.shapes:
            raise AdapterExportError(f"the base GGUF has no {base} (for {key}): another model?")
        array = np.ascontiguousarray(value, dtype=np.float32)
        if ab == "B" and _ARCHS[layout.arch] and module in ("self_attn.q_proj", "self_attn.k_proj"):
            array = permute_rows(array, layout.heads if module == "self_attn.q_proj" else layout.kv_heads)
        tensors[f"{base}.lora_{ab.lower()}"] = array
    for name in tensors:
        base, _, part = name.rpartition(".lora_")
        other = f"{base}.lora_{'b' if part == 'a' else 'a'}"
        if other not in tensors:
            raise AdapterExportError(f"{name} has no {other}")
        if part == "a":
            a, b = tensors[name], tensors[other]
            fan_in, fan_out = layout.shapes[base]
            if a.shape[1] != fan_in or b.shape[0] != fan_out or a.shape[0] != b.shape[1]:
                raise AdapterExportError(
                    f"{base}: LoRA {tuple(b.shape)} x {tuple(a.shape)} does not fit the base GGUF's "
                    f"[{fan_out}, {fan_in}]: another model?"
                )
    if not tensors:
        raise AdapterExportError("the adapter holds no LoRA weights")
    return tensors


def _read_peft(adapter_dir: Path) -> tuple[dict[str, np.ndarray], float]:
    """The saved PEFT adapter's LoRA weights and its alpha."""
    from safetensors.numpy import load_file

    try:
        config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
        state = load_file(str(adapter_dir / "adapter_model.safetensors"))
    except (OSError, ValueError) as exc:
        raise AdapterExportError(f"{adapter_dir} holds no readable PEFT LoRA: {exc}") from exc
    if config.get("use_rslora") or config.get("use_dora"):
        raise AdapterExportError("llama.cpp scales a LoRA by alpha / r: rsLoRA and DoRA do not carry over")
    return state, float(config["lora_alpha"])


def write_gguf_adapter(adapter_dir: Path, base_gguf: Path) -> Path:
    """Write ``adapter_dir/adapter.gguf`` from the PEFT adapter saved there, for llama.cpp on ``base_gguf``.

    The file appears whole or not at all (written aside, then renamed).
    """
    from gguf import GGUFWriter, Keys

    state, alpha = _read_peft(adapter_dir)
    layout = read_base_layout(base_gguf)
    tensors = gguf_lora_tensors(state, layout)
    out = adapter_dir / ADAPTER_GGUF
    tmp = adapter_dir / f".{ADAPTER_GGUF}.{secrets.token_hex(6)}.tmp"
    try:
        writer = GGUFWriter(tmp, layout.arch)
        writer.add_type("adapter")
        writer.add_string(Keys.Adapter.TYPE, "lora")
        writer.add_float32(Keys.Adapter.LORA_ALPHA, alpha)
        for name, array in sorted(tensors.items()):
            writer.add_tensor(name, array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
