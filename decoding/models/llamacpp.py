"""The llama.cpp implementation of the engine's LM: a GGUF run by llama.cpp's quantized CPU kernels.

On a CPU, llama.cpp decodes a quantized GGUF 5-10x faster than our float32 torch path (issue #20),
and it needs no dequantized copy. We drive it through llama-cpp-python's low-level API, not its
high-level ``Llama`` class: the engine needs logits for the last ``k`` positions of a batch (one
verification forward) and to cut the KV cache back to any length on rejection, which ``Llama``'s
sampling loop does not expose. The cache is the context's sequence 0; ``llama_memory_seq_rm``
removes positions from a length on.

Input longer than one batch is fed in ``n_batch`` chunks (llama.cpp's own limit per decode), so a
long prompt is also a natural point to report progress and honour a cancel between chunks.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common.atomic import atomic_write_text
from common.paths import cache_dir
from decoding.models.store import ModelError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = 32768  # tokens; capped by the model's training context
BATCH = 512  # tokens per llama_decode (and per prefill chunk)
# Tokens per compute graph (llama.cpp splits a batch into such micro-batches). Measured on this build
# (docs/benchmarks.md): for the builtin Q4_1 smollm2, logits of a position fed in a micro-batch of < 64
# tokens are bit-identical to feeding it alone with 1 thread (not reproducibly with 2: see default_threads);
# from 64 tokens on a different kernel path changes the last bits (up to 1.0 in a logit). Other
# quantisations switch kernels much earlier (Qwen2.5-Coder's Q4_K_M: from 4 tokens on, 0.48 in a
# logit, argmax flips), so the size up to which a verify is exact is measured per model: see
# :func:`exact_verify_size`.
MICRO_BATCH = 48
EXACT_CANDIDATES = (2, 3, 4, 6, 8, 12, 16, 24, 32, MICRO_BATCH)  # verify sizes tried, smallest first
_GGML_LOG_ERROR = 4


def _import() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise ModelError(
            f"The llama.cpp engine needs llama-cpp-python, which is not importable ({exc}). "
            "Run `make setup` (it builds it once), or pass --engine torch."
        ) from exc
    return llama_cpp


_log_callback: Any = None  # ctypes keeps only a pointer: the Python callback must outlive every call


def _route_logs(llama_cpp: Any) -> None:
    """llama.cpp prints hundreds of load lines to stderr (garbling the TUI): keep only its errors."""
    global _log_callback
    if _log_callback is not None:
        return

    def relay(level: int, text: bytes, user_data: object) -> None:
        if level == _GGML_LOG_ERROR:
            log.warning("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())

    _log_callback = llama_cpp.llama_log_callback(relay)
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()


def default_threads() -> int:
    """One thread unless ``$SPECEDIT_LLAMA_THREADS`` asks for more: losslessness before speed.

    Measured (docs/benchmarks.md, session 4): two threads made the 1.5B 1.6x faster on an idle 2-core
    VM, but with 2 threads the builtin's lookup answer left regular's at token 71 in one of two
    identical runs (tests/test_engine_llamacpp.py, idle box): llama.cpp's multi-threaded results are
    not reproducible bit for bit, so no verify size is exact. One thread is.
    """
    value = os.environ.get("SPECEDIT_LLAMA_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return 1


def _quantization(desc: str) -> str:
    """The quantisation in llama.cpp's model description, named as GGUF files are.

    ``llama 135M Q4_1`` -> ``Q4_1``; ``qwen2 1.5B Q4_K - Medium`` -> ``Q4_K_M``; ``F32 (guessed)`` -> F32.
    """
    words = [w for w in desc.split()[2:] if not w.startswith("(")]
    if "-" in words[1:-1]:
        i = words.index("-")
        return f"{words[i - 1]}_{words[i + 1][:1]}"
    return words[-1] if words else "?"


def _probe_tokens(vocab_size: int, count: int) -> list[int]:
    """Ordinary token ids spread over the vocabulary (no special tokens at the start or end)."""
    return [100 + (i * 7919) % max(1, vocab_size - 200) for i in range(count)]


def _measure_exact_size(model: LlamaCppModel) -> int:
    """The largest of :data:`EXACT_CANDIDATES` whose batched logits equal one-token steps bit for bit.

    Each candidate size k is fed once token by token and once as one decode, after the same context;
    the first size whose rows differ ends the search (llama.cpp switches kernels at a size and stays
    switched). 1 if even two tokens differ: then verification gains nothing but stays exact.
    It sets ``model.verify_size`` to each candidate in turn (``forward`` splits verifies by it) and
    leaves the cache empty and the forward count at zero.
    """
    context = _probe_tokens(model.vocab_size, 32 + max(EXACT_CANDIDATES))
    prefix, tokens = context[:32], context[32:]
    model.forward(prefix, keep=1)
    exact = 1
    for size in EXACT_CANDIDATES:
        model.rollback(len(prefix))
        single = np.stack([model.forward([t], keep=1)[0].numpy() for t in tokens[:size]])
        model.rollback(len(prefix))
        model.verify_size = size
        batched = model.forward(tokens[:size], keep=size).numpy()
        if not np.array_equal(single, batched):
            break
        exact = size
    model.rollback(0)
    model.forwards = 0
    return exact


def exact_verify_size(model: LlamaCppModel) -> int:
    """:func:`_measure_exact_size`, remembered per model file, llama.cpp version and thread count.

    The measurement takes up to a few seconds of one-token steps, so it runs once per machine and
    model; the verdict lives in the cache folder (``llama-exact.json``).
    """
    stat = model.path.stat()
    key = f"{model.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{model._lib.__version__}|{model.threads}"
    store = cache_dir() / "llama-exact.json"
    try:
        known = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    size = known.get(key)
    if isinstance(size, int) and size >= 1:
        return size
    size = _measure_exact_size(model)
    known[key] = size
    try:
        atomic_write_text(store, json.dumps(known, indent=1))
    except OSError as exc:  # a read-only cache costs a re-measurement next time, nothing else
        log.warning("could not remember llama.cpp's exact verify size in %s: %s", store, exc)
    return size


class LlamaCppModel:
    """A GGUF model and one llama.cpp context, behind the :class:`decoding.engine.lm.LM` interface."""

    name = "llama.cpp"

    def __init__(
        self, path: Path, context: int = DEFAULT_CONTEXT, threads: int | None = None, target: bool = True
    ) -> None:
        """Load ``path``; a ``target`` (whose verifies must equal one-token steps) measures its exact size.

        A draft only proposes, so its verifies may take any kernel path: it skips the measurement.
        """
        llama_cpp = _import()
        _route_logs(llama_cpp)
        self._lib = llama_cpp
        self.path = path
        self._model = llama_cpp.llama_model_load_from_file(
            str(path).encode(), llama_cpp.llama_model_default_params()
        )
        if not self._model:
            raise ModelError(f"llama.cpp could not load {path} (not a GGUF it supports, or damaged).")
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = min(context, llama_cpp.llama_model_n_ctx_train(self._model)) or context
        params.n_batch, params.n_ubatch = BATCH, MICRO_BATCH
        params.n_seq_max = 1
        params.n_threads = params.n_threads_batch = threads or default_threads()
        params.no_perf = True
        self._ctx = llama_cpp.llama_init_from_model(self._model, params)
        if not self._ctx:
            llama_cpp.llama_model_free(self._model)
            raise ModelError(f"llama.cpp could not create a context of {params.n_ctx} tokens for {path}.")
        self.context = llama_cpp.llama_n_ctx(self._ctx)
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        vocab = llama_cpp.llama_model_get_vocab(self._model)
        self._vocab_size = llama_cpp.llama_vocab_n_tokens(vocab)
        ends = (llama_cpp.llama_vocab_eos(vocab), llama_cpp.llama_vocab_eot(vocab))
        self._eos = frozenset(int(t) for t in ends if t >= 0)
        self._batch = llama_cpp.llama_batch_init(BATCH, 0, 1)
        # numpy views on the batch's arrays: filling a batch is then a few slice assignments.
        self._token = np.ctypeslib.as_array(self._batch.token, shape=(BATCH,))
        self._pos = np.ctypeslib.as_array(self._batch.pos, shape=(BATCH,))
        self._wants = np.ctypeslib.as_array(self._batch.logits, shape=(BATCH,))
        np.ctypeslib.as_array(self._batch.n_seq_id, shape=(BATCH,))[:] = 1
        for i in range(BATCH):
            self._batch.seq_id[i][0] = 0
        self._tokens: list[int] = []
        self.forwards = 0
        self.is_target = target
        self._adapter: Any = None
        desc = ctypes.create_string_buffer(128)
        llama_cpp.llama_model_desc(self._model, desc, len(desc))
        self.quantization = _quantization(desc.value.decode("utf-8", "replace"))
        self.threads = params.n_threads
        # Tokens per decode in a verification: up to this many, logits equal one-token steps bit for bit.
        self.verify_size = exact_verify_size(self) if target else MICRO_BATCH

    def use_adapter(self, path: Path) -> None:
        """Run a draft with the LoRA in ``path`` (a llama.cpp GGUF adapter), replacing any previous one.

        Only a draft may: a target's logits must stay the model's own, or no method would equal plain
        greedy decoding. The cache is emptied, since what it holds was computed without the adapter.
        llama.cpp checks the adapter against the model (architecture, tensor names, shapes) and logs why
        it refuses; that reason is in the error.
        """
        if self.is_target:
            raise ValueError("a target never takes an adapter: its output must stay plain greedy decoding")
        adapter = self._lib.llama_adapter_lora_init(self._model, str(path).encode())
        if not adapter:
            raise ModelError(f"llama.cpp refused the adapter {path} for {self.path.name} (see the log above)")
        adapters = (self._lib.llama_adapter_lora_p_ctypes * 1)(adapter)
        scales = (ctypes.c_float * 1)(1.0)  # llama.cpp applies the adapter's alpha / r itself
        self._lib.llama_set_adapters_lora(self._ctx, adapters, 1, scales)
        if self._adapter is not None:
            self._lib.llama_adapter_lora_free(self._adapter)
        self._adapter = adapter
        self.rollback(0)

    @property
    def reuse_is_exact(self) -> bool:
        """Exact micro-batches of every size give every chunking of a prompt the same KV."""
        return self.verify_size >= MICRO_BATCH

    @property
    def tokens(self) -> list[int]:
        return self._tokens

    @property
    def length(self) -> int:
        return len(self._tokens)

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    @property
    def eos_ids(self) -> frozenset[int]:
        return self._eos

    def forward(self, token_ids: Sequence[int], keep: int) -> torch.Tensor:
        """Feed ``token_ids`` after the cached ones; logits ``[keep, vocab]`` of the last ``keep`` positions.

        llama.cpp computes output rows only where the batch asks for them, so a long prompt costs no
        vocabulary projection except for its last row.
        """
        import torch

        n = len(token_ids)
        if not 1 <= keep <= n:
            raise ValueError(f"forward needs 1 <= keep <= {n} tokens, got keep={keep}")
        start = len(self._tokens)
        if start + n > self.context:
            raise ModelError(
                f"{start + n} tokens do not fit the llama.cpp context of {self.context} tokens; "
                "edit a smaller file or lower the answer budget (--max-new-tokens)."
            )
        ids = np.asarray(token_ids, dtype=np.int32)
        rows: list[np.ndarray] = []
        # A verification (several rows wanted) goes in decodes small enough to stay exact; a prefill
        # (one row) may take any path: every method reads the prompt the same way.
        step = BATCH if keep == 1 else self.verify_size
        for offset in range(0, n, step):
            chunk = ids[offset : offset + step]
            size = len(chunk)
            wanted = max(0, min(size, offset + size - (n - keep)))  # output rows in this chunk
            self._token[:size] = chunk
            self._pos[:size] = np.arange(start + offset, start + offset + size, dtype=np.int32)
            self._wants[:size] = 0
            self._wants[size - wanted : size] = 1
            self._batch.n_tokens = size
            status = self._lib.llama_decode(self._ctx, self._batch)
            if status != 0:
                self.rollback(start)  # a failed decode may leave part of the batch in the cache
                raise ModelError(f"llama.cpp decode failed (status {status}) at position {start + offset}")
            self._tokens.extend(int(t) for t in chunk)
            if wanted:
                logits = self._lib.llama_get_logits(self._ctx)
                rows.append(np.ctypeslib.as_array(logits, shape=(wanted, self._vocab_size)).copy())
        self.forwards += 1
        return torch.from_numpy(rows[0] if len(rows) == 1 else np.concatenate(rows))

    def rollback(self, length: int) -> None:
        """Forget every cached token from position ``length`` on."""
        if length < 0:
            raise ValueError("cannot roll back to a negative length")
        if length < len(self._tokens):
            if not self._lib.llama_memory_seq_rm(self._memory, 0, length, -1):
                raise ModelError(f"llama.cpp could not cut its cache back to {length} tokens")
            del self._tokens[length:]

    def close(self) -> None:
        """Free the context and weights now rather than at interpreter exit."""
        if self._ctx:
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
            if self._adapter is not None:
                self._lib.llama_adapter_lora_free(self._adapter)
            self._lib.llama_model_free(self._model)
            self._ctx = self._model = self._adapter = None

    def __del__(self) -> None:
        if getattr(self, "_ctx", None):
            self.close()
