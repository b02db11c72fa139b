#!/usr/bin/env bash
# Drive the real `specedit` binary in tmux the way a user would, on a throwaway git repository:
# first frame -> instruction -> live generation -> review -> accept all -> enter (commit) -> ctrl+z (undo)
# -> a second instruction cancelled with escape -> help (f1) -> ctrl+q; then, at 80x24, a JavaScript file
# (whose grammar used to segfault the app) is opened, stays up highlighted, and quits cleanly.
#
# Uses the builtin model (--model smollm2) from the specedit model cache; never downloads.
# Exit status: 0 passed, 1 failed (the pane is printed), 77 skipped (reason on stderr).
# Environment: SPECEDIT (binary, default: specedit on PATH), SMOKE_TIMEOUT (seconds per generation, 300),
# SMOKE_KEEP=1 keeps the temp folder.
set -euo pipefail

SPECEDIT=${SPECEDIT:-specedit}
TIMEOUT=${SMOKE_TIMEOUT:-300}
SESSION="specedit-smoke-$$"
FIRST=$SESSION
INSTRUCTION="add type hints to add"

skip() { echo "SKIP: $*" >&2; exit 77; }
command -v tmux >/dev/null || skip "tmux is not installed (apt-get install -y tmux)"
command -v "$SPECEDIT" >/dev/null || skip "no specedit binary ($SPECEDIT); pip install -e . first"
PYTHON=$(dirname "$(command -v "$SPECEDIT")")/python
[ -x "$PYTHON" ] || PYTHON=python3
problem=$("$PYTHON" -c "from decoding.models.store import builtin_dir, cache_problem; print(cache_problem(builtin_dir()) or '')")
[ -z "$problem" ] || skip "the builtin model is not cached ($problem); run: specedit models fetch smollm2"
models_dir=$("$PYTHON" -c "from decoding.models.store import models_dir; print(models_dir())")

WORK=$(mktemp -d)
cleanup() {
    tmux kill-session -t "$FIRST" 2>/dev/null || true
    tmux kill-session -t "$FIRST-js" 2>/dev/null || true
    [ "${SMOKE_KEEP:-}" = 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

# Settings and the edit cache go to the temp folder; the models are shared read-only through a symlink.
export XDG_CONFIG_HOME="$WORK/config" XDG_CACHE_HOME="$WORK/cache"
mkdir -p "$XDG_CACHE_HOME/specedit"
ln -s "$models_dir" "$XDG_CACHE_HOME/specedit/models"

# A running tmux server gives new sessions its own environment, not this script's: pass it explicitly.
ENV="env XDG_CONFIG_HOME='$XDG_CONFIG_HOME' XDG_CACHE_HOME='$XDG_CACHE_HOME'"

REPO="$WORK/project"
mkdir -p "$REPO"
cat >"$REPO/calc.py" <<'EOF'
def add(a, b):
    return a + b


def sub(a, b):
    return a - b
EOF
printf '%s\n' '// Greets a user.' 'export function greet(name) {' '  return `Hello, ${name}!`;' '}' >"$REPO/greet.js"
cp "$REPO/calc.py" "$WORK/original.py"
git -C "$REPO" init -q -b main
git -C "$REPO" -c user.name=smoke -c user.email=smoke@example.com add calc.py greet.js
git -C "$REPO" -c user.name=smoke -c user.email=smoke@example.com commit -q -m initial

pane() { tmux capture-pane -p -t "$SESSION"; }
fail() {
    echo "FAIL: $*" >&2
    pane >&2 || true
    exit 1
}
# wait_for PATTERN SECONDS: until the pane shows PATTERN (grep -E); a traceback fails at once.
wait_for() {
    local deadline=$((SECONDS + $2))
    while [ $SECONDS -lt $deadline ]; do
        local screen
        screen=$(pane) || fail "the tmux session died"
        grep -q "Traceback" <<<"$screen" && fail "a traceback is on screen"
        grep -Eq "$1" <<<"$screen" && return 0
        sleep 0.25
    done
    fail "timed out after $2 s waiting for /$1/"
}

start=$(date +%s%N)
tmux new-session -d -s "$SESSION" -x 120 -y 34 \
    "cd '$REPO' && $ENV '$SPECEDIT' calc.py --model smollm2 --theme specedit-light; echo \$? >'$WORK/rc'; sleep 600"
wait_for "Describe the edit" 20
echo "first frame after $((($(date +%s%N) - start) / 1000000)) ms (tmux start and polling included)"

tmux send-keys -t "$SESSION" "$INSTRUCTION" Enter
wait_for "generating" 20
wait_for "review ·|failed|error" "$TIMEOUT"
pane | grep -q "review · no change" && fail "the model proposed no change, nothing to review"
pane | grep -Eq "review · hunk" || fail "no review after the generation"
echo "review shown:"
pane | grep -E "tok/s|hunks" || true

tmux send-keys -t "$SESSION" A Enter
wait_for "applied [0-9]+ hunk|Apply anyway" 30
if pane | grep -q "Apply anyway"; then  # the proposal check found problems: confirm, as a user would
    echo "the proposal check found problems; confirming"
    tmux send-keys -t "$SESSION" y
    wait_for "applied [0-9]+ hunk" 30
fi
[ "$(git -C "$REPO" log -1 --format=%s)" = "$INSTRUCTION" ] || fail "the last commit is not the edit"
git -C "$REPO" log -1 --format=%B | grep -q "Specedit-Edit: 1" || fail "the commit has no specedit trailer"
[ -z "$(git -C "$REPO" status --porcelain)" ] || fail "the work tree is dirty after applying"
cmp -s "$REPO/calc.py" "$WORK/original.py" && fail "calc.py did not change"

tmux send-keys -t "$SESSION" C-z
wait_for "undo: " 30
cmp -s "$REPO/calc.py" "$WORK/original.py" || fail "undo did not restore calc.py"
[ "$(git -C "$REPO" log -1 --format=%s)" = initial ] || fail "undo left the edit commit on the branch"

tmux send-keys -t "$SESSION" "rename sub to minus" Enter
wait_for "generating" 20
tmux send-keys -t "$SESSION" Escape
wait_for "cancelled" "$TIMEOUT"
cmp -s "$REPO/calc.py" "$WORK/original.py" || fail "a cancelled generation changed calc.py"

tmux send-keys -t "$SESSION" F1
wait_for "specedit keys" 10
tmux send-keys -t "$SESSION" Escape
wait_for "Describe the edit" 10

tmux send-keys -t "$SESSION" C-q
for _ in $(seq 240); do [ -s "$WORK/rc" ] && break; sleep 0.25; done  # quitting waits for the model thread to stop
[ "$(cat "$WORK/rc" 2>/dev/null)" = 0 ] || fail "specedit did not exit cleanly (rc=$(cat "$WORK/rc" 2>/dev/null))"

# A JavaScript file at 80x24: its grammar is probed in a child process, then used; the app must survive.
SESSION="$FIRST-js"
VERDICTS="$XDG_CACHE_HOME/specedit/grammars.json"
tmux new-session -d -s "$SESSION" -x 80 -y 24 \
    "cd '$REPO' && $ENV '$SPECEDIT' greet.js --model smollm2; echo \$? >'$WORK/rc-js'; sleep 600"
wait_for "Hello" 20
for _ in $(seq 40); do grep -q '"javascript' "$VERDICTS" 2>/dev/null && break; sleep 0.5; done
grep -q '"javascript.*true' "$VERDICTS" || fail "the javascript grammar was not probed safe: $(cat "$VERDICTS")"
sleep 1
[ -s "$WORK/rc-js" ] && fail "specedit exited on a .js file (rc=$(cat "$WORK/rc-js"))"
wait_for "greet.js" 5
tmux send-keys -t "$SESSION" C-q
for _ in $(seq 240); do [ -s "$WORK/rc-js" ] && break; sleep 0.25; done
[ "$(cat "$WORK/rc-js" 2>/dev/null)" = 0 ] || fail "specedit on greet.js did not exit cleanly (rc=$(cat "$WORK/rc-js" 2>/dev/null))"
echo "PASS: tmux smoke test"
