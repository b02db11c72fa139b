"""Reading the user's and the repository's settings files (TOML), strictly.

Both files hold flat ``key = value`` pairs named like the flags (``model = "qwen-coder-1.5b"``,
``load-in-4bit = false``; ``-`` and ``_`` are the same). A file that does not parse, an unknown key (a typo
would otherwise be ignored silently) or a value of the wrong type is a usage error naming the file, so
the user fixes it rather than wondering why a setting has no effect.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import get_args

from common.errors import UsageError
from common.paths import REPO_CONFIG_NAME
from decoding.engine.config import METHOD_CHOICES
from decoding.models.load import ENGINES
from decoding.session import FormatChoice

BACKENDS = ("local", "openai")
FORMATS: tuple[str, ...] = get_args(FormatChoice)

# What a settings file may set: a type, or the tuple of allowed strings. Not the API key (files end up in
# repositories and backups) nor one-run switches such as --no-cache.
SETTINGS: dict[str, type | tuple[str, ...]] = {
    "model": str,
    "draft": str,
    "device": str,
    "dtype": str,
    "engine": ENGINES,
    "load_in_4bit": bool,
    "method": METHOD_CHOICES,
    "backend": BACKENDS,
    "base_url": str,
    "format": FORMATS,
    "check": str,
    "theme": str,
    "max_new_tokens": int,
}


def find_repo_config(start: Path) -> Path | None:
    """The ``.specedit.toml`` that applies to ``start`` (a file or folder), if any.

    Inside a git repository: the nearest one between ``start`` and the repository root (a monorepo may
    hold several). Outside one: only the folder itself, so a stray file in a parent folder never applies.
    """
    folder = Path(start).absolute()
    if not folder.is_dir():
        folder = folder.parent
    found: Path | None = None
    for candidate in (folder, *folder.parents):
        config = candidate / REPO_CONFIG_NAME
        if found is None and config.is_file():
            found = config
        if (candidate / ".git").exists():
            return found
    own = folder / REPO_CONFIG_NAME
    return own if own.is_file() else None


def read_config(path: Path) -> dict[str, object]:
    """The settings in ``path`` (empty if it does not exist), checked against :data:`SETTINGS`."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the settings file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}", hint=f"fix or delete {path}") from None
    settings: dict[str, object] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        expected = SETTINGS.get(name)
        if expected is None:
            known = ", ".join(k.replace("_", "-") for k in SETTINGS)
            raise UsageError(f"{path}: unknown setting {key!r}", hint=f"known settings: {known}")
        settings[name] = _checked(path, key, value, expected)
    return settings


def _checked(path: Path, key: str, value: object, expected: type | tuple[str, ...]) -> object:
    if isinstance(expected, tuple):
        if value not in expected:
            raise UsageError(f"{path}: {key} = {value!r} is not one of {', '.join(expected)}")
        return value
    # bool is an int in Python: `max-new-tokens = true` must not pass as 1.
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise UsageError(f"{path}: {key} must be a {expected.__name__}, got {value!r}")
    if expected is int and value <= 0:  # type: ignore[operator]
        raise UsageError(f"{path}: {key} must be positive, got {value}")
    return value
