"""Runs ``tests/e2e/tmux_smoke.sh``: the real ``specedit`` binary driven in tmux with the builtin model.

Skipped, with the script's reason, when tmux, the binary or the cached builtin model is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "e2e" / "tmux_smoke.sh"
SKIPPED = 77


@pytest.mark.slow
def test_tmux_smoke() -> None:
    if shutil.which("tmux") is None:
        pytest.skip(
            "SKIPPED LOUDLY: tmux is not installed (apt-get install -y tmux); the TUI smoke test did not run"
        )
    binary = Path(sys.executable).parent / "specedit"
    env = {**os.environ, "SPECEDIT": str(binary if binary.exists() else "specedit")}
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=900)
    if result.returncode == SKIPPED:
        pytest.skip(f"SKIPPED LOUDLY: {result.stderr.strip()}")
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "PASS: tmux smoke test" in result.stdout
