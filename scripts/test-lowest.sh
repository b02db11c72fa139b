#!/usr/bin/env bash
# The lowest-versions job: every direct dependency at the lower bound of its range in pyproject.toml
# (constraints/lowest.txt, on Python 3.11, the lowest we support) in its own venv, .venv-lowest, then
# the tests of the APIs those old versions put at risk. A lower bound this job has not run is a guess;
# when a bound moves in pyproject.toml, move it in constraints/lowest.txt too.
#
# Run it after scripts/setup.sh (make test does): llama-cpp-python's wheel then comes from pip's
# cache, otherwise pip compiles it (15-40 min on 2 cores). PyPI has no CPU-only torch at our floor,
# so the job installs the CUDA build (about 3 GB with its nvidia libraries; it runs on CPU too).
# Measured on 2 shared cores (pip's cache warm): install 151 s into an empty venv (load 1.6-2.4;
# 8-14 s when it is up to date), lint and tests 113 s (load 3-3.9).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
VENV=.venv-lowest
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "the lowest-versions job runs on Python 3.11, the lowest we support: set PYTHON=/path/to/python3.11" >&2
  exit 2
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
VPY=$VENV/bin/python
echo "lowest versions: installing constraints/lowest.txt into $VENV ($("$VPY" --version))"
start=$SECONDS
"$VPY" -m pip install -q -c constraints/lowest.txt -e ".[dev]"
"$VPY" -m pip check
echo "lowest versions: installed in $((SECONDS - start)) s"

start=$SECONDS
"$VENV/bin/lint-imports"  # import-linter's floor reads our contracts
"$VENV/bin/ruff" check .  # ruff's floor knows every rule we select (older ones add removed UP rules)
"$VENV/bin/ruff" format --check .
# pytest, pytest-asyncio, hypothesis and pytest-textual-snapshot's floors run all of these.
tests=(
  # torch + transformers: the cache argument (transformers 5.18 still names it past_key_values, the
  # other branch of decoding/engine/kv.py's CACHE_ARG) and DynamicCache crop of the lossless loop,
  # early-exit surgery on transformers modules, loading (GGUF via gguf, 4-bit via bitsandbytes and
  # accelerate, safetensors), and peft's LoRA wrapping in tune.
  tests/test_deprecations.py
  tests/test_speculate.py
  tests/test_selfspec.py
  tests/test_models.py
  tests/test_tune.py
  # textual + rich: Pilot runs of the keys, workers, command palette, TextArea, narrow layout and
  # Theme API; the widgets' parts; every grammar Textual highlights with (tree-sitter in a
  # subprocess, it segfaults with mismatched grammars); the drawn screens (snapshots).
  tests/test_tui.py::test_accept_one_reject_other_apply_commit_and_undo
  tests/test_tui.py::test_escape_drops_a_running_generation_at_once
  tests/test_tui.py::test_command_palette_lists_keys_once_and_runs_review_actions
  tests/test_tui.py::test_e_edits_a_hunk_in_the_editor_and_the_edit_is_applied
  tests/test_tui.py::test_narrow_terminal_hides_the_tree_and_stacks_the_panes
  tests/test_tui.py::test_theme_flag_palette_switch_and_persistence
  tests/test_tui_units.py
  tests/test_tui_grammars.py
  tests/test_tui_snapshots.py
  # GitPython: commits, undo/redo, locks and refusals on temporary repositories.
  tests/test_repo.py
  tests/test_faults_git.py
  # tree-sitter and its grammars: lazy merges per language and the proposal checks (with pyflakes).
  tests/test_lazy_python.py
  tests/test_lazy_langs.py
  tests/test_lazy_props.py
  tests/test_checks.py
  # matplotlib: the bench plot.
  tests/test_bench.py
)
"$VPY" -m pytest -q -p no:cacheprovider "${tests[@]}"
echo "lowest versions: tests ran in $((SECONDS - start)) s"
