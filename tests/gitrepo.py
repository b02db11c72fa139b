"""Temporary git repositories for the vcs and history CLI tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from vcs.repo import EditMeta

META = EditMeta(
    model="tiny", method="multilayer", new_tokens=42, chars_per_s=123.4, tokens_per_s=31.2, speedup=2.5
)
USER = ["-c", "user.name=Test User", "-c", "user.email=user@example.com"]


def isolate_git(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No global or system git config and no identity variables, like a fresh CI machine."""
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    for role in ("AUTHOR", "COMMITTER"):
        for field in ("NAME", "EMAIL", "DATE"):
            monkeypatch.delenv(f"GIT_{role}_{field}", raising=False)
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


def git(cwd: Path, *args: str) -> str:
    """Run git as the user would (with an identity of their own), returning stdout."""
    done = subprocess.run(["git", *USER, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def make_repo(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    """A repository whose first commit (by the user) holds ``files``."""
    root = tmp_path / "repo"
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for name, text in (files or {"f.py": "one\ntwo\n"}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "initial")
    return root
