"""Where specedit keeps its files: the one XDG Base Directory policy every layer asks.

- cache (re-creatable, large): ``$XDG_CACHE_HOME/specedit`` — models, adapters, the edit cache, downloads
- config (the user's settings): ``$XDG_CONFIG_HOME/specedit`` — ``config.toml``, the TUI's remembered theme
- per repository: ``.specedit.toml`` at the repository (or opened folder) root; the accepted-edit log lives
  in ``.git/specedit/`` next to the history it describes (``decoding.personal.log``)

An unset, empty or *relative* ``XDG_*`` value is ignored, as the XDG spec requires ("if an implementation
encounters a relative path in any of these variables it should consider the path invalid"): a relative
cache would silently move with the working folder.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "specedit"
USER_CONFIG_NAME = "config.toml"
REPO_CONFIG_NAME = ".specedit.toml"


def _xdg_home(variable: str, fallback: str) -> Path:
    """``$variable`` if it holds an absolute path, else ``~/fallback``."""
    value = os.environ.get(variable, "")
    base = Path(value)
    if not value or not base.is_absolute():
        base = Path.home() / fallback
    return base / APP


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/specedit``, else ``~/.cache/specedit``."""
    return _xdg_home("XDG_CACHE_HOME", ".cache")


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/specedit``, else ``~/.config/specedit``."""
    return _xdg_home("XDG_CONFIG_HOME", ".config")


def user_config_path() -> Path:
    """The user's settings file (TOML), read by ``app.run_options``."""
    return config_dir() / USER_CONFIG_NAME


def models_dir() -> Path:
    """Converted models (safetensors copies of GGUF files, builtin models)."""
    return cache_dir() / "models"


def adapters_dir() -> Path:
    """LoRA adapters of the draft from ``specedit tune``."""
    return cache_dir() / "adapters"


def edits_dir() -> Path:
    """The edit cache, and the accepted-edit log of files that are not in a git repository."""
    return cache_dir() / "edits"
