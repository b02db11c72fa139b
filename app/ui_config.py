"""What the TUI remembers between runs (the theme last picked), as JSON in the config folder.

This is remembered state, written by the app; the user's own settings are ``config.toml``
(``app.run_options``), which win over it. A broken or unreadable file must never stop the app from
starting: it falls back to defaults and says why.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from common.atomic import atomic_write_text
from common.paths import config_dir


@dataclass(frozen=True)
class UiConfig:
    theme: str | None = None


def config_path() -> Path:
    return config_dir() / "config.json"


def load_config(path: Path | None = None) -> tuple[UiConfig, str | None]:
    """The saved settings and, if the file was unusable, the reason (for the notes line)."""
    path = path or config_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return UiConfig(), None
    except (OSError, ValueError) as exc:
        return UiConfig(), f"ignoring unreadable settings {path}: {exc}"
    if not isinstance(raw, dict):
        return UiConfig(), f"ignoring settings {path}: expected a JSON object"
    theme = raw.get("theme")
    return UiConfig(theme=theme if isinstance(theme, str) else None), None


def save_config(config: UiConfig, path: Path | None = None) -> None:
    """Written atomically, so a crash never leaves half a file behind."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(asdict(config), indent=2) + "\n")
