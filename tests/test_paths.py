"""The one XDG policy: absolute XDG_* values are honoured, relative or empty ones ignored (per the spec)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from common import paths
from decoding.personal.cache import default_cache_path
from decoding.personal.tune import adapter_dir_for

CASES = [
    ("XDG_CACHE_HOME", ".cache", paths.cache_dir),
    ("XDG_CONFIG_HOME", ".config", paths.config_dir),
]


@pytest.mark.parametrize(("variable", "fallback", "folder"), CASES)
def test_absolute_value_is_honoured(
    variable: str, fallback: str, folder: Callable[[], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, str(tmp_path / "xdg"))
    assert folder() == tmp_path / "xdg" / "specedit"


@pytest.mark.parametrize("value", ["", "relative/dir", "./x"])
@pytest.mark.parametrize(("variable", "fallback", "folder"), CASES)
def test_relative_or_empty_value_falls_back_to_home(
    variable: str,
    fallback: str,
    folder: Callable[[], Path],
    value: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(variable, value)
    assert folder() == tmp_path / fallback / "specedit"


def test_every_cache_user_follows_the_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Models, adapters and the edit cache move with XDG_CACHE_HOME, the settings with XDG_CONFIG_HOME."""
    from app.ui_config import config_path
    from decoding.models.store import models_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    cache = tmp_path / "cache" / "specedit"
    assert models_dir() == cache / "models"
    assert adapter_dir_for("tiny") == cache / "adapters" / "tiny"
    assert default_cache_path().is_relative_to(cache / "edits")
    assert paths.user_config_path() == tmp_path / "config" / "specedit" / "config.toml"
    assert config_path().parent == tmp_path / "config" / "specedit"
