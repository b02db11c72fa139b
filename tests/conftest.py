"""Shared fixtures.

``builtin_models`` loads the real builtin model (smollm2) once per test session, on CPU in float32 so
results match across machines. The first use anywhere fetches and converts it into the user's cache
(``specedit models --fetch`` does the same ahead of time); without network the tests that need it are
skipped with a loud reason rather than failing.
"""

from __future__ import annotations

from typing import NoReturn

import pytest

from decoding.models import FetchError, LoadedModels


def skip_without_builtin(exc: FetchError) -> NoReturn:
    """Skip loudly: a missing builtin model is the environment's fault, but must not pass unnoticed."""
    pytest.skip(f"!!! BUILTIN MODEL UNAVAILABLE (run `specedit models --fetch` with network) !!! {exc}")


@pytest.fixture(scope="session")
def builtin_models() -> LoadedModels:
    import torch

    from decoding.models import load_models

    torch.set_num_threads(min(2, torch.get_num_threads()))
    try:
        return load_models("smollm2", device="cpu")
    except FetchError as exc:
        skip_without_builtin(exc)
