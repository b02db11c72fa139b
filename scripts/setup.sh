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
# llama-cpp-python (the CPU engine) compiles llama.cpp from its sdist once (pip caches the built wheel):
# 42 min measured on 2 busy cores, with its multimodal library, which is off here. Built before
# specedit, so the compile shows progress instead of a silent pip. GGML_NATIVE=OFF: portable AVX2 code, not tuned to this CPU (CI machines differ);
# LLAVA_BUILD=OFF: no multimodal library. Override with CMAKE_ARGS.
LLAMA_CPP_VERSION=0.3.36  # keep in step with pyproject.toml and scripts/llama-server.sh
if ! "$VPY" -c "import importlib.metadata as m, sys; sys.exit(m.version('llama-cpp-python') != '$LLAMA_CPP_VERSION')" 2>/dev/null; then
  echo "building llama-cpp-python $LLAMA_CPP_VERSION (llama.cpp CPU kernels): once, 15-40 min on 2 cores"
  log=$(mktemp)
  set +e
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF}" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$VPY" -m pip install -v "llama-cpp-python==$LLAMA_CPP_VERSION" 2>&1 | tee "$log" \
    | awk '/^ *\[[0-9]+\/[0-9]+\]/ { match($0, /\[[0-9]+\/[0-9]+\]/); printf "\r  compiling %s", substr($0, RSTART + 1, RLENGTH - 2); fflush() }
           END { print "" }'
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    tail -n 30 "$log"
    echo "llama-cpp-python did not build (log: $log). It needs a C++ compiler and cmake (apt-get install build-essential cmake)." >&2
    exit 1
  fi
  rm -f "$log"
fi
"$VPY" -m pip install -q -e ".[dev]"
echo "specedit installed in .venv ($(.venv/bin/specedit --version))"
