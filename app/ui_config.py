"""Settings the TUI remembers between runs (the theme), as JSON under ``$XDG_CONFIG_HOME/specedit``.

A broken or unreadable file must never stop the app from starting: it falls back to defaults and says why.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class UiConfig:
    theme: str | None = None


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "specedit" / "config.json"


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
    """Write atomically (temp file + rename) so a crash never leaves half a file behind."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(config), handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
