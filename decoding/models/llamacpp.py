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
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from decoding.models.store import ModelError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = 32768  # tokens; capped by the model's training context
BATCH = 512  # tokens per llama_decode (and per prefill chunk)
# Tokens per compute graph (llama.cpp splits a batch into such micro-batches). Measured on this build
# (docs/benchmarks.md): logits of a position fed in a micro-batch of < 64 tokens are bit-identical to
# feeding it alone with 1 thread (not always with 2: see default_threads); from 64 tokens on a
# different kernel path changes the last bits (up to 1.0 in a logit). Below that threshold, a verify
# of any length and a prefill in any chunks compute exactly what one-token regular decoding
# computes: losslessness holds bit for bit.
MICRO_BATCH = 48
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

    Measured (docs/benchmarks.md): with 2 threads the builtin's lookup output left regular's at token
    71 of an edit of examples/inventory.py (llama.cpp splits batched and single-token work over
    threads differently, so the last bits differ); with 1 thread every verify is bit-identical to
    one-token decoding. On this 2-core box one thread was also the faster setting under load.
    """
    value = os.environ.get("SPECEDIT_LLAMA_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return 1


class LlamaCppModel:
    """A GGUF model and one llama.cpp context, behind the :class:`decoding.engine.lm.LM` interface."""

    name = "llama.cpp"

    def __init__(self, path: Path, context: int = DEFAULT_CONTEXT, threads: int | None = None) -> None:
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
        desc = ctypes.create_string_buffer(128)
        llama_cpp.llama_model_desc(self._model, desc, len(desc))
        self.quantization = desc.value.decode("utf-8", "replace").split()[-1]  # "llama 135M Q4_1" -> Q4_1

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
        for offset in range(0, n, BATCH):
            chunk = ids[offset : offset + BATCH]
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
            self._lib.llama_model_free(self._model)
            self._ctx = self._model = None

    def __del__(self) -> None:
        if getattr(self, "_ctx", None):
            self.close()
