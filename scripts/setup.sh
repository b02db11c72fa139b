#!/usr/bin/env bash
# Create .venv and install specedit with its dev tools. Idempotent: re-running only updates.
# Without an NVIDIA GPU, the CPU build of torch is installed first: a bare `torch` requirement would
# otherwise pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
if ! "$VPY" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "$VPY" -m pip install -q torch
  else
    "$VPY" -m pip install -q torch==2.13.0 || "$VPY" -m pip install -q --index-url https://download.pytorch.org/whl/cpu torch
  fi
fi
"$VPY" -m pip install -q -e ".[dev]"
echo "specedit installed in .venv ($(.venv/bin/specedit --version))"
