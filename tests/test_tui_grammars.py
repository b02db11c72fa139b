"""No file crashes the app: every grammar the TUI can highlight renders, each tried in a subprocess.

A native grammar crash (SIGSEGV) cannot be caught in-process, so each check runs in a child and a
negative return code fails the test with the signal's name. The installed version set must
highlight every language (the pins in pyproject.toml are chosen by these tests); if a grammar still
crashes, the app must fall back to plain text instead of dying.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from textual.widgets import TextArea

from app import grammar_probe
from decoding.prompts import _LANGS

HIGHLIGHTED = {ext: lang for ext, lang in _LANGS.items() if lang in TextArea("").available_languages}


def _crash_report(done: subprocess.CompletedProcess[str]) -> str:
    if done.returncode < 0:
        return f"killed by {signal.Signals(-done.returncode).name}\n{done.stderr[-2000:]}"
    return f"exit {done.returncode}\n{done.stdout[-1000:]}\n{done.stderr[-2000:]}"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def test_the_app_can_highlight_javascript_and_json() -> None:
    assert {"javascript", "json", "python"} <= set(HIGHLIGHTED.values())


@pytest.mark.parametrize("language", sorted(set(HIGHLIGHTED.values())))
def test_grammar_renders_without_crashing(language: str) -> None:
    done = subprocess.run(
        grammar_probe.probe_command(language), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{language}: {_crash_report(done)}"


_OPEN_EVERY_FILE = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from app.tui import SpeceditApp
    from tests.tui_support import model_args

    async def main(folder):
        app = SpeceditApp(folder, model_args(), backend_factory=lambda _a, _p: None)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            for path in sorted(folder.iterdir()):
                if path.name.startswith("."):
                    continue
                app.main._open_file(path)
                for _ in range(3000):  # the probe of a new language takes about a second
                    await pilot.pause(0.01)
                    code = app.main.code
                    if app.main.current == path and not any(w.group == "grammar" and w.is_running
                                                            for w in app.workers):
                        break
                print(path.suffix, code.language, flush=True)

    asyncio.run(main(Path(sys.argv[1])))
    """
)


def test_app_opens_a_file_of_every_highlighted_language(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    for ext in HIGHLIGHTED:
        (folder / f"sample{ext}").write_text(grammar_probe.SAMPLE)
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_EVERY_FILE, str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
        check=False,
    )
    assert done.returncode == 0, _crash_report(done)
    shown = dict(line.split() for line in done.stdout.splitlines())
    assert shown == HIGHLIGHTED  # every file highlighted with its grammar, none left plain


def test_a_crashing_grammar_falls_back_to_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    crash = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    monkeypatch.setattr(grammar_probe, "probe_command", lambda _language: crash)
    assert grammar_probe.cached_verdict("json") is None
    assert grammar_probe.grammar_is_safe("json") is False
    assert grammar_probe.cached_verdict("json") is False  # remembered: not probed again
    monkeypatch.setattr(grammar_probe, "probe_command", lambda _language: pytest.fail("probed twice"))
    assert grammar_probe.grammar_is_safe("json") is False


async def test_code_view_shows_plain_text_when_the_grammar_crashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.tui import SpeceditApp
    from tests.tui_support import make_repo, model_args

    crash = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    monkeypatch.setattr(grammar_probe, "probe_command", lambda _language: crash)
    repo = make_repo(tmp_path / "project")
    (repo / "data.json").write_text('{"a": 1}\n')
    app = SpeceditApp(repo / "data.json", model_args(), backend_factory=lambda _a, _p: None)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(500):
            await pilot.pause(0.01)
            if grammar_probe.cached_verdict("json") is not None and not any(
                w.group == "grammar" and w.is_running for w in app.workers
            ):
                break
        await pilot.pause()
        code = app.main.code
        assert code.text == '{"a": 1}\n' and code.language is None
        assert code.wanted_language == "json"
