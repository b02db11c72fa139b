"""Snapshots of the main screen: review at 120x32 and at 80x24 in both themes, the live generation with
its layer colours, and the help screen.

Update after an intended UI change with ``pytest tests/test_tui_snapshots.py --snapshot-update`` and look
at the SVGs in ``tests/__snapshots__/`` before committing them.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.live import LiveText
from app.messages import LiveFrame
from app.tui import SpeceditApp
from decoding.events import Span, Stats
from tests.tui_support import INSTRUCTION, ORIGINAL, ScriptedBackend, make_repo, model_args

THEMES = ["specedit-dark", "specedit-light"]


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # Highlight at once: the grammar probe (tests/test_tui_grammars.py) would otherwise race the shot.
    monkeypatch.setattr("app.widgets.code_view.grammar_is_safe", lambda _language: True)


def _app(tmp_path: Path, theme: str) -> SpeceditApp:
    repo = make_repo(tmp_path / "project")
    backend = ScriptedBackend()
    return SpeceditApp(repo / "calc.py", model_args(theme=theme), backend_factory=lambda _a, _p: backend)


async def _settled(pilot) -> None:  # noqa: ANN001
    """Polling for background work (file read, grammar probe, tree listing), not timing it."""
    app = pilot.app
    for _ in range(1000):
        await pilot.pause(0.01)
        busy = any(w.is_running and w.group in ("file", "grammar", "git", "generate") for w in app.workers)
        code = app.main.code
        highlighted = code.language == code.wanted_language
        if (
            not busy
            and highlighted
            and app.main.current is not None
            and app.main.query_one("#picker").root.children
        ):
            return


async def _review(pilot) -> None:  # noqa: ANN001
    """Ask for the scripted edit, wait for the review, decide one hunk (accepted and pending show)."""
    await _settled(pilot)
    main = pilot.app.main
    main.instruction_box.value = INSTRUCTION
    main.instruction_box.focus()
    await pilot.press("enter")
    for _ in range(500):
        await pilot.pause(0.01)
        if main.review is not None:
            break
    await _settled(pilot)
    await pilot.press("a")
    await pilot.pause()


async def _live(pilot) -> None:  # noqa: ANN001
    """A generation half-way, drawn from a fixed frame: every layer colour and one rejected draft."""
    await _settled(pilot)
    main = pilot.app.main
    live = LiveText(ORIGINAL)
    live.add(Span("def add(a: int, b: int) -> int:\n", (1,), "target", True), now=0.0)
    live.add(Span("    return a + b\n\n\n", (2,), "lookup", True), now=0.0)
    live.add(Span("def sub(a, b", (3,), "draft", True), now=0.0)
    live.add(Span(") -> None", (4,), "draft", False), now=0.0)
    stats = Stats(
        new_tokens=30,
        chars=80,
        target_forwards=8,
        proposed={"lookup": 20, "draft": 9},
        accepted={"lookup": 18, "draft": 5},
        drafts=6,
        accepted_at=(5, 4, 3),
        elapsed=2.0,
    )
    main.cancel_event = threading.Event()
    main.refresh_bindings()
    main.post_message(LiveFrame(main.generation, live.render(now=0.0), stats))
    await _settled(pilot)


@pytest.mark.parametrize("theme", THEMES)
def test_main_screen_review(theme: str, tmp_path: Path, snap_compare) -> None:
    assert snap_compare(_app(tmp_path, theme), terminal_size=(120, 32), run_before=_review)


@pytest.mark.parametrize("theme", THEMES)
def test_review_at_80x24(theme: str, tmp_path: Path, snap_compare) -> None:
    assert snap_compare(_app(tmp_path, theme), terminal_size=(80, 24), run_before=_review)


def test_live_generation_layer_colours(tmp_path: Path, snap_compare) -> None:
    assert snap_compare(_app(tmp_path, "specedit-dark"), terminal_size=(120, 32), run_before=_live)


def test_help_screen(tmp_path: Path, snap_compare) -> None:
    async def help_open(pilot) -> None:  # noqa: ANN001
        await _settled(pilot)
        await pilot.press("f1")

    assert snap_compare(_app(tmp_path, "specedit-dark"), terminal_size=(120, 40), run_before=help_open)
