"""Snapshots of the main screen (file, review of a scripted proposal) in both specedit themes.

Update after an intended UI change with ``pytest tests/test_tui_snapshots.py --snapshot-update`` and look
at the SVGs in ``tests/__snapshots__/`` before committing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.tui import SpeceditApp
from tests.tui_support import INSTRUCTION, ScriptedBackend, make_repo, model_args

SIZE = (120, 32)


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


async def _review(pilot) -> None:  # noqa: ANN001
    """Ask for the scripted edit, wait for the review and for the file tree to list the folder."""
    app = pilot.app
    box = app.query_one("#instruction")
    box.value = INSTRUCTION
    box.focus()
    await pilot.press("enter")
    for _ in range(500):  # polling for background work, not timing it
        await pilot.pause(0.01)
        if app.review is not None and app.cancel_event is None and app.query_one("#picker").root.children:
            break
    await pilot.press("a")  # one decision, so the snapshot shows accepted and pending hunks
    await pilot.pause()


@pytest.mark.parametrize("theme", ["specedit-dark", "specedit-light"])
def test_main_screen_review(theme: str, tmp_path: Path, snap_compare) -> None:
    repo = make_repo(tmp_path / "project")
    backend = ScriptedBackend()
    app = SpeceditApp(repo / "calc.py", model_args(theme=theme), backend_factory=lambda _a, _p: backend)
    assert snap_compare(app, terminal_size=SIZE, run_before=_review)


def test_help_screen(tmp_path: Path, snap_compare) -> None:
    repo = make_repo(tmp_path / "project")
    app = SpeceditApp(
        repo / "calc.py", model_args(theme="specedit-dark"), backend_factory=lambda _a, _p: None
    )
    assert snap_compare(app, terminal_size=(120, 40), press=["f1"])
