"""The 4-bit NF4 target path without a GPU: every method equals plain greedy on a bitsandbytes target.

bitsandbytes runs NF4 on the CPU (slowly), so the path GPU users take (4-bit target, full-precision
draft) is exercised on every machine. It runs in a subprocess with a timeout: a native crash in
bitsandbytes must fail this test, not end the session.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from decoding.engine.config import METHODS
from tests.four_bit_worker import NO_BACKEND

ROOT = Path(__file__).resolve().parent.parent


def test_every_method_is_identical_to_regular_on_a_4bit_target() -> None:
    pytest.importorskip(
        "bitsandbytes", reason="!!! bitsandbytes is not installed: the 4-bit path is untested !!!"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tests.four_bit_worker"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode == NO_BACKEND:
        pytest.skip(f"!!! NO bitsandbytes CPU BACKEND: the 4-bit path is untested !!! {proc.stderr[-500:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    assert "nf4" in results.pop("precision")
    regular = results.pop("regular")
    assert len(regular) == 48  # the whole budget: the comparison covers 48 tokens
    assert set(results) == {f"{m} ({d})" for m in METHODS for d in ("real draft", "early exit")}
    for name, run in results.items():
        assert run["tokens"] == regular, name
    for name in ("lookup (real draft)", "draft (real draft)", "multilayer (real draft)"):
        assert results[name]["speculated"] > 0, f"{name}: nothing was speculated, so nothing was verified"
