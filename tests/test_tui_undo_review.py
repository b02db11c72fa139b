"""Pilot tests: a proposal is finished once applied, and undo/redo never leave a stale one reviewable.

Git transactions run in worker threads, so the review pane stays on screen while they run. These
tests hold an apply, undo or redo at its start (a gate in the worker thread) and press the review
keys in that window: nothing may be decided, applied twice, or applied on top of a file the proposal
was not computed from. Repositories are temporary (``tests.gitrepo``), the model is scripted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message

import app.screens.main as main_screen
from app.tui import SpeceditApp
from app.widgets.review_view import ReviewView
from tests.gitrepo import META, make_repo
from tests.test_tui import SIZE, decisions, make_app, notes, posted
from tests.tui_support import FIRST_ONLY, INSTRUCTION, ORIGINAL, PROPOSAL, git, settle, type_instruction
from vcs.repo import EditRepo

WAIT_S = 10.0  # the most a held worker thread waits for its test (it is released at teardown anyway)
README = "# demo\n"


class Gate:
    """Holds a function called in a worker thread at its start until the test opens the gate."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            self.entered.set()
            if not self.opened.wait(WAIT_S):
                raise TimeoutError("the test never opened the gate")
            return function(*args, **kwargs)

        return held


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings and the edit cache go to the test's folder (a shared cache would answer repeated requests)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def gate() -> Iterator[Gate]:
    held = Gate()
    yield held
    held.opened.set()  # a failed test must not leave a worker thread waiting


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path, {"calc.py": ORIGINAL, "README.md": README})


async def until(pilot, condition: Callable[[], bool], what: str) -> None:  # noqa: ANN001
    """Let the app run until ``condition`` holds (bounded: a worker that never gets there fails)."""
    for _ in range(int(WAIT_S / 0.02)):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError(f"never happened: {what}")


async def until_held(pilot, gate: Gate) -> None:  # noqa: ANN001
    """Wait until the worker thread has reached the gate (the transaction is running, held)."""
    await until(pilot, gate.entered.is_set, "the worker reached the gate")


def pane(app: SpeceditApp) -> str:
    """The proposal pane's title and text, the text's wrapping undone."""
    view = app.main.review_view
    return " ".join(f"{view.border_title} {view.query_one('#diff-body').render()}".split())


def commits(repo: Path) -> list[str]:
    return git(repo, "log", "--format=%s").splitlines()


async def press_review_keys(app: SpeceditApp, pilot) -> None:  # noqa: ANN001
    """Every review key a user might hit on a pane that looks reviewable, then enter and its dialog."""
    app.main.review_view.focus()
    await pilot.press("j", "k", "r", "a", "R", "A", "enter")
    await pilot.pause()
    await pilot.press("y")  # "apply all" if enter asked about pending hunks


async def review_a_proposal(app: SpeceditApp, pilot) -> None:  # noqa: ANN001
    """The scripted model's proposal for the instruction, under review."""
    await settle(app, pilot)
    await type_instruction(app, pilot)
    await settle(app, pilot)


async def apply_all_with_the_check_held(
    app: SpeceditApp, pilot, gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    """Instruct, apply every hunk, and hold the ``--check`` that follows at its start (the file reloaded)."""
    monkeypatch.setattr(main_screen, "run_post_check", gate.wrap(main_screen.run_post_check))
    await review_a_proposal(app, pilot)
    await pilot.press("A", "enter")
    await until_held(pilot, gate)
    await until(pilot, lambda: app.main.code.text == PROPOSAL, "the applied file was reloaded")


async def test_second_enter_while_applying_applies_nothing_more(
    repo: Path, gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(main_screen, "apply_proposal", gate.wrap(main_screen.apply_proposal))
    seen: list[Message] = []
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await review_a_proposal(app, pilot)
        await pilot.press("A", "enter")  # both hunks
        await until_held(pilot, gate)
        assert app.main.review is None and pane(app).startswith("applying…")
        await pilot.press("R", "a", "enter")  # would apply only the second hunk over the first apply
        await pilot.pause()
        gate.opened.set()
        await settle(app, pilot)
        assert len(posted(seen, ReviewView.Apply)) == 1
        assert (repo / "calc.py").read_text() == PROPOSAL
        assert commits(repo) == [INSTRUCTION, "initial"]
        assert "applied 2 hunks" in notes(app)


async def test_undo_pressed_while_applying_waits_and_never_undoes_an_older_edit(
    repo: Path,
    gate: Gate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readme = repo / "README.md"
    EditRepo.open(repo).apply_edit(readme, "# demo, edited\n", README, instruction="readme", meta=META)
    monkeypatch.setattr(main_screen, "apply_proposal", gate.wrap(main_screen.apply_proposal))
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await review_a_proposal(app, pilot)
        await pilot.press("A", "enter")
        await until_held(pilot, gate)
        await pilot.press("ctrl+z")  # the user means the edit being applied, not the README edit
        await pilot.pause()
        assert "still running" in notes(app)
        gate.opened.set()
        await settle(app, pilot)
        assert commits(repo) == [INSTRUCTION, "readme", "initial"]
        assert readme.read_text() == "# demo, edited\n"

        await pilot.press("ctrl+z")  # now it undoes the edit just applied, and only that
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == ORIGINAL
        assert commits(repo) == ["readme", "initial"]


async def test_after_apply_the_pane_says_what_was_applied_and_nothing_applies_again(repo: Path) -> None:
    seen: list[Message] = []
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await review_a_proposal(app, pilot)
        await pilot.press("a", "enter")  # the first hunk, then "only the accepted one"
        await pilot.pause()
        await pilot.press("o")
        await settle(app, pilot)
        sha = git(repo, "rev-parse", "--short=7", "HEAD").strip()
        assert f"applied 1 hunk to calc.py: commit {sha}" in pane(app)
        view = app.main.review_view  # a sentence wraps to the pane instead of running off its edge
        lines = str(view.query_one("#diff-body").render()).splitlines()
        assert max(map(len, lines)) <= view.content_region.width < len(" ".join(lines))
        await press_review_keys(app, pilot)
        await settle(app, pilot)

        await pilot.press("ctrl+z")
        await settle(app, pilot)
        assert f"undo: {INSTRUCTION}" in pane(app)
        await press_review_keys(app, pilot)
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == ORIGINAL
        assert commits(repo) == ["initial"]

        await pilot.press("ctrl+y")
        await settle(app, pilot)
        assert f"redo: {INSTRUCTION}" in pane(app)
        assert (repo / "calc.py").read_text() == FIRST_ONLY
        assert len(posted(seen, ReviewView.Apply)) == 1


async def test_the_pane_says_the_check_runs_until_its_result_replaces_that(
    repo: Path, gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(repo / "calc.py", check="true")
    async with app.run_test(size=SIZE) as pilot:
        await apply_all_with_the_check_held(app, pilot, gate, monkeypatch)
        assert "applied 2 hunks to calc.py" in pane(app) and "running the check: true" in pane(app)
        gate.opened.set()
        await settle(app, pilot)
        assert pane(app).startswith("check passed")


async def test_a_check_that_ends_after_an_undo_does_not_report_on_the_undone_edit(
    repo: Path, gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(repo / "calc.py", check="false")
    async with app.run_test(size=SIZE) as pilot:
        await apply_all_with_the_check_held(app, pilot, gate, monkeypatch)
        await pilot.press("ctrl+z")  # a long check need not be waited for
        await until(pilot, lambda: app.main.code.text == ORIGINAL, "the undo reloaded the file")
        gate.opened.set()
        await settle(app, pilot)
        assert pane(app).startswith(f"proposal undo: {INSTRUCTION}")
        assert "ctrl+z reverts" not in pane(app) + notes(app) and "check failed" in notes(app)
        assert commits(repo) == ["initial"]


@pytest.mark.parametrize("action", ["undo", "redo"])
async def test_undo_or_redo_under_a_review_dismisses_the_proposal_it_outdates(
    repo: Path,
    gate: Gate,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
) -> None:
    history = EditRepo.open(repo)
    history.apply_edit(repo / "calc.py", FIRST_ONLY, ORIGINAL, instruction="earlier edit", meta=META)
    if action == "redo":
        history.undo()
    before, after = (FIRST_ONLY, ORIGINAL) if action == "undo" else (ORIGINAL, FIRST_ONLY)
    monkeypatch.setattr(EditRepo, action, gate.wrap(getattr(EditRepo, action)))
    seen: list[Message] = []
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(app, pilot)
        await type_instruction(app, pilot)  # a proposal computed from `before`
        await settle(app, pilot)
        assert app.main.review is not None and app.main.loaded_text == before
        await pilot.press("ctrl+z" if action == "undo" else "ctrl+y")
        await until_held(pilot, gate)
        assert app.main.review is None  # parked: its keys do nothing while the file changes
        await press_review_keys(app, pilot)
        gate.opened.set()
        await settle(app, pilot)
        assert posted(seen, ReviewView.Apply) == []
        assert (repo / "calc.py").read_text() == after == app.main.code.text
        assert app.main.review is None and app.main.proposal is None
        assert f"the proposal under review was for the text before the {action}: dismissed" in pane(app)
        await press_review_keys(app, pilot)
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == after


async def test_undo_of_another_file_gives_the_review_back_untouched(
    repo: Path, gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = repo / "README.md"
    EditRepo.open(repo).apply_edit(readme, "# demo, edited\n", README, instruction="readme", meta=META)
    monkeypatch.setattr(EditRepo, "undo", gate.wrap(EditRepo.undo))
    seen: list[Message] = []
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await review_a_proposal(app, pilot)
        await pilot.press("a")
        await pilot.press("ctrl+z")
        await until_held(pilot, gate)
        await press_review_keys(app, pilot)
        gate.opened.set()
        await settle(app, pilot)
        assert readme.read_text() == README and (repo / "calc.py").read_text() == ORIGINAL
        assert posted(seen, ReviewView.Apply) == []
        assert decisions(app) == ["accepted", "pending"] and app.main.review.selected == 1
        assert app.focused is app.main.review_view and "undo: readme" in notes(app)


async def test_a_refused_apply_brings_the_review_back_as_the_user_left_it(
    repo: Path,
    gate: Gate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(main_screen, "apply_proposal", gate.wrap(main_screen.apply_proposal))
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await review_a_proposal(app, pilot)
        await pilot.press("a", "r", "enter")
        await until_held(pilot, gate)
        assert app.main.review is None
        (repo / "calc.py").chmod(0o444)  # specedit refuses a read-only file (inside the transaction)
        gate.opened.set()
        await settle(app, pilot)
        assert "read-only" in notes(app)
        assert decisions(app) == ["accepted", "rejected"] and app.focused is app.main.review_view
        assert commits(repo) == ["initial"]

        (repo / "calc.py").chmod(0o644)
        await pilot.press("enter")
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == FIRST_ONLY
        assert commits(repo) == [INSTRUCTION, "initial"]
