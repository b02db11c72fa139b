"""Syntax highlighting that cannot take the terminal down: a grammar is tried in a child process first.

Tree-sitter grammars are native extensions. A mismatch between a grammar and the tree-sitter runtime
(tree-sitter 0.26.1 with tree-sitter-javascript 0.25.0 or tree-sitter-json 0.24.8) corrupts the heap and
kills the process with SIGSEGV: no ``try`` catches that, and the user's terminal is left in raw mode.
So before the TUI highlights with a grammar, a child process renders a TextArea with it headlessly; only
a clean exit lets the grammar into the app, anything else means plain text. The verdict is cached per
(language, runtime, grammar and Textual versions), so the probe costs about a second once per language
per install, and an upgrade that breaks (or fixes) a grammar is probed again.

Run as ``python -m app.grammar_probe LANGUAGE``: exit 0 after a highlighted render.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from common.atomic import atomic_write_text
from decoding.models.store import cache_dir

PROBE_TIMEOUT_S = 60.0
# A bit of every syntax the grammars know, so the highlight query meets real nodes in any language.
SAMPLE = """\
{"key": [1, 2.5, true, null], "s": "text"}
function greet(name) { return `hi ${name}`; }  // comment
def add(a: int, b: int) -> int:  # comment
    return a + b
<p class="x">text</p>
key: value
[table]
SELECT a FROM t WHERE b = 1;
"""

_lock = threading.Lock()


def verdicts_path() -> Path:
    return cache_dir() / "grammars.json"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def probe_key(language: str) -> str:
    """The versions a verdict holds for: any of them changing means the grammar is probed again."""
    return (
        f"{language} tree-sitter=={_version('tree-sitter')} "
        f"tree-sitter-{language}=={_version(f'tree-sitter-{language}')} textual=={_version('textual')}"
    )


def _load() -> dict[str, bool]:
    try:
        raw = json.loads(verdicts_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no cache yet, or a broken one: probing again is always safe
    return {k: v for k, v in raw.items() if isinstance(v, bool)} if isinstance(raw, dict) else {}


def cached_verdict(language: str) -> bool | None:
    """True/False when this version set was probed already, None when it has to be probed."""
    return _load().get(probe_key(language))


def probe_command(language: str) -> list[str]:
    return [sys.executable, "-m", "app.grammar_probe", language]


def grammar_is_safe(language: str) -> bool:
    """Probe ``language`` in a child process (once per version set) and remember the verdict.

    Blocking (about a second): call it from a thread worker, never from the event loop.
    """
    with _lock:  # two files of one language opened in a row: one probe
        known = cached_verdict(language)
        if known is not None:
            return known
        try:
            done = subprocess.run(
                probe_command(language),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=PROBE_TIMEOUT_S,
                check=False,
            )
            safe = done.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            safe = False
        verdicts = _load()
        verdicts[probe_key(language)] = safe
        try:
            verdicts_path().parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(verdicts_path(), json.dumps(verdicts, indent=1, sort_keys=True) + "\n")
        except OSError:
            pass  # an unwritable cache only means probing again next time
        return safe


def _render_headless(language: str) -> None:
    """What the app does with a grammar: parse, run the highlight query, draw the lines."""
    import asyncio

    from textual.app import App, ComposeResult
    from textual.widgets import TextArea

    class Probe(App[None]):
        def compose(self) -> ComposeResult:
            yield TextArea(SAMPLE * 4, language=language)

    async def run() -> None:
        app = Probe()
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            area = app.query_one(TextArea)
            if area.language != language:
                raise SystemExit(f"{language}: not loaded")
            area.scroll_end(animate=False)
            await pilot.pause()

    asyncio.run(run())


if __name__ == "__main__":
    _render_headless(sys.argv[1])
    print("ok")
