"""Shared fixtures.

``builtin_models`` loads the real builtin model (smollm2) once per test session, on CPU in float32 so
results match across machines. The first use anywhere fetches and converts it into the user's cache
(``specedit models --fetch`` does the same ahead of time); without network the tests that need it are
skipped with a loud reason rather than failing.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import settings

from decoding.models.load import FetchError, LoadedModels

# Property tests check correctness, not speed: a 200 ms deadline per example only measures how busy
# the machine is (a shared 2-core box failed test_detok that way), so no deadline anywhere.
settings.register_profile("specedit", deadline=None)
settings.load_profile("specedit")


def skip_without_builtin(exc: FetchError) -> NoReturn:
    """Skip loudly: a missing builtin model is the environment's fault, but must not pass unnoticed."""
    pytest.skip(f"!!! BUILTIN MODEL UNAVAILABLE (run `specedit models --fetch` with network) !!! {exc}")


@pytest.fixture(scope="session")
def builtin_models() -> LoadedModels:
    import torch

    from decoding.models.load import load_models

    torch.set_num_threads(min(2, torch.get_num_threads()))
    try:
        return load_models("smollm2", device="cpu")
    except FetchError as exc:
        skip_without_builtin(exc)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny seeded model + byte tokenizer saved like a real checkpoint (``--model DIR`` resolves it)."""
    from tests.tiny_models import make_byte_tokenizer, make_tiny_llama

    path = tmp_path_factory.mktemp("tiny-model")
    make_tiny_llama(seed=5, num_layers=4).save_pretrained(path)
    make_byte_tokenizer().save_pretrained(path)
    return path
