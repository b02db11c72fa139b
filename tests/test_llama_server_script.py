"""scripts/llama-server.sh without building anything: usage, cache lookup, clear refusals."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.llama_server import SCRIPT


def script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, env=env
    )


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An empty HOME and cache: nothing built, nothing fetched."""
    return {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "xdg")}


def test_help_names_every_command_and_the_pinned_source() -> None:
    result = script("--help")
    assert result.returncode == 0
    for word in ("build", "bin", "gguf", "serve", "--draft", "--ngram", "llama-cpp-python==0.3.36"):
        assert word in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = script("frobnicate")
    assert result.returncode == 2 and "usage:" in result.stderr


def test_bin_says_how_to_build_when_nothing_is_built(home: dict[str, str]) -> None:
    result = script("bin", env=home)
    assert result.returncode == 1
    assert "not built" in result.stderr and "build" in result.stderr


def test_gguf_finds_models_in_the_cache_and_refuses_unknown_ones(home: dict[str, str]) -> None:
    gguf = Path(home["XDG_CACHE_HOME"]) / "specedit" / "gguf" / "coder.gguf"
    gguf.parent.mkdir(parents=True)
    gguf.write_bytes(b"GGUF")
    assert script("gguf", "coder", env=home).stdout.strip() == str(gguf)
    missing = script("gguf", "no-such-model", env=home)
    assert missing.returncode == 2 and "no such GGUF" in missing.stderr


def test_relative_xdg_cache_home_is_ignored_like_specedit_does(home: dict[str, str]) -> None:
    gguf = Path(home["HOME"]) / ".cache" / "specedit" / "gguf" / "coder.gguf"
    gguf.parent.mkdir(parents=True)
    gguf.write_bytes(b"GGUF")
    result = script("gguf", "coder", env={**home, "XDG_CACHE_HOME": "relative/cache"})
    assert result.stdout.strip() == str(gguf)


def test_builtin_gguf_needs_the_fetched_model(home: dict[str, str]) -> None:
    result = script("gguf", "smollm2", env=home)
    assert result.returncode == 5 and "specedit models --fetch" in result.stderr


def test_build_without_a_compiler_says_what_to_install(home: dict[str, str], tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    dirname = shutil.which("dirname")
    assert dirname is not None
    (tools / "dirname").symlink_to(dirname)  # the script's only external command before the check
    result = script("build", env={**home, "PATH": str(tools)})
    assert result.returncode == 2
    assert "missing cmake, a C++ compiler" in result.stderr and "apt-get install" in result.stderr
