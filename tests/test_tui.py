"""Pilot tests of the TUI: the whole edit flow with a scripted backend in a temporary git repository.

Assertions look at what the user sees (notes line, panes, dialogs), at the files and commits, and at
the typed messages the workers and widgets post (``run_test(message_hook=...)``).
"""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from textual.message import Message
from textual.notifications import Notify

from app.files import MAX_BYTES, FileRefused, read_editable
from app.messages import LiveFrame, ProposalReady
from app.screens.main import MainScreen
from app.tui import SpeceditApp
from app.ui_config import UiConfig, config_path, load_config, save_config
from app.widgets.dialogs import ChoiceScreen, ConfirmScreen, HelpScreen
from app.widgets.review_view import ReviewView
from tests.tui_support import (
    FIRST_ONLY,
    INSTRUCTION,
    ORIGINAL,
    PROPOSAL,
    ScriptedBackend,
    git,
    make_repo,
    model_args,
    settle,
    type_instruction,
)

SIZE = (140, 40)
SECOND_ONLY = ORIGINAL.replace("    return a * b", "    result = a * b\n    return result")


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings and the edit cache go to the test's folder (a shared cache would answer repeated requests)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project")


def make_app(target: Path, backend: ScriptedBackend | None = None, **args: object) -> SpeceditApp:
    backend = backend or ScriptedBackend()
    return SpeceditApp(target, model_args(**args), backend_factory=lambda _args, _progress: backend)


def notes(app: SpeceditApp) -> str:
    return str(app.main.query_one("#notes").render())


async def opened(app: SpeceditApp, pilot) -> None:  # noqa: ANN001
    await settle(app, pilot)
    assert app.main.current is not None


async def ask(app: SpeceditApp, pilot, instruction: str = INSTRUCTION) -> None:  # noqa: ANN001
    await opened(app, pilot)
    await type_instruction(app, pilot, instruction)
    await settle(app, pilot)


def posted(seen: list[Message], kind: type[Message]) -> list[Message]:
    """Each message once (the hook sees a bubbling message at every node it reaches)."""
    return list({id(m): m for m in seen if isinstance(m, kind)}.values())


def decisions(app: SpeceditApp) -> list[str]:
    review = app.main.review
    assert review is not None
    return [review.decision(h) for h in review.hunks]


# -- the full flow -------------------------------------------------------------------------------


async def test_accept_one_reject_other_apply_commit_and_undo(repo: Path) -> None:
    seen: list[Message] = []
    app = make_app(repo / "calc.py", method="auto")
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await ask(app, pilot)
        assert app.main.code.text == ORIGINAL
        assert app.main.review is not None and len(app.main.review.hunks) == 2
        assert app.focused is app.main.review_view
        assert "2 hunks" in notes(app)
        assert any(isinstance(m, LiveFrame) for m in seen)  # the worker streamed frames...
        (ready,) = posted(seen, ProposalReady)  # ...and one proposal
        assert ready.proposal.new_text == PROPOSAL
        status = str(app.main.query_one("#status").render())
        assert "scripted (cpu)" in status and "mean acceptance length" in status

        await pilot.press("a", "r")  # accept the first hunk (moves on), reject the second
        assert decisions(app) == ["accepted", "rejected"]
        await pilot.press("enter")  # nothing pending: applies without asking
        await settle(app, pilot)
        (apply,) = posted(seen, ReviewView.Apply)
        assert apply.hunk_ids == {apply.review.hunks[0].id}

        assert (repo / "calc.py").read_text() == FIRST_ONLY
        assert app.main.code.text == FIRST_ONLY
        assert git(repo, "log", "-1", "--format=%s").strip() == INSTRUCTION
        trailers = git(repo, "log", "-1", "--format=%(trailers:only,unfold)").splitlines()
        assert "Specedit-Edit: 1" in trailers
        assert "Specedit-Method: lookup" in trailers  # what ran, not "auto"
        assert "Specedit-Engine: scripted" in trailers
        assert git(repo, "status", "--porcelain").strip() == ""
        assert "applied 1 hunk" in notes(app)

        await pilot.press("ctrl+z")
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == ORIGINAL
        assert app.main.code.text == ORIGINAL
        assert git(repo, "log", "-1", "--format=%s").strip() == "initial"

        await pilot.press("ctrl+y")
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == FIRST_ONLY


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("y", PROPOSAL), ("o", FIRST_ONLY), ("n", ORIGINAL), ("escape", ORIGINAL)],
)
async def test_enter_with_pending_hunks_asks_what_to_apply(repo: Path, answer: str, expected: str) -> None:
    seen: list[Message] = []
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await ask(app, pilot)
        await pilot.press("a")  # first accepted, second still pending
        assert "apply 1 accepted, then asks about 1 pending" in str(app.main.review_view.border_subtitle)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceScreen)
        assert "1 hunk(s) are still pending" in app.screen.question
        await pilot.press(answer)
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == expected
        applied = posted(seen, ReviewView.Apply)
        assert len(applied) == (0 if expected == ORIGINAL else 1)
        if expected == ORIGINAL:  # back to the review, decisions kept
            assert decisions(app) == ["accepted", "pending"]


async def test_enter_right_after_generation_asks_before_applying_anything(repo: Path) -> None:
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceScreen)
        labels = [label for _value, label, _key in app.screen.choices]
        assert labels == ["Apply 0 accepted + 2 pending", "Back to the review"]
        await pilot.press("y")
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == PROPOSAL


async def test_accept_all_applies_the_whole_proposal_and_feeds_the_edit_cache(repo: Path) -> None:
    backend = ScriptedBackend()
    app = make_app(repo / "calc.py", backend)
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        await pilot.press("R", "A", "enter")
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == PROPOSAL
        await pilot.press("ctrl+z")
        await settle(app, pilot)
        await ask(app, pilot)  # the same request on the same text: answered without the model
        assert len(backend.requests) == 1
        assert app.main.proposal is not None and app.main.proposal.new_text == PROPOSAL
        assert "edit cache" in notes(app)


async def test_rejected_review_says_so_and_escape_dismisses_it(repo: Path) -> None:
    seen: list[Message] = []
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await ask(app, pilot)
        await pilot.press("R", "enter")
        await pilot.pause()
        assert "nothing to apply" in notes(app) and "escape dismisses" in notes(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.main.review is None
        assert any(isinstance(m, ReviewView.Dismissed) for m in seen)
        assert "dismissed" in notes(app)
        assert app.focused is app.main.instruction_box
        box = app.main.instruction_box
        box.value = "another edit"
        await pilot.press("enter")
        await pilot.pause()
        assert "dismissed" not in notes(app)  # no stale message while the next generation runs
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == ORIGINAL


async def test_escape_in_the_instruction_box_dismisses_a_review(repo: Path) -> None:
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        app.main.instruction_box.focus()
        await pilot.press("escape")
        await pilot.pause()
        assert app.main.review is None


async def test_review_keys_type_letters_in_the_instruction_box(repo: Path) -> None:
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        app.main.instruction_box.focus()
        await pilot.press("a", "r", "j", "k", "e", "question_mark")
        assert app.main.instruction_box.value == "arjke?"
        assert decisions(app) == ["pending", "pending"]
        assert not isinstance(app.screen, HelpScreen)


async def test_question_mark_in_the_empty_instruction_box_opens_help(repo: Path) -> None:
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        assert app.focused is app.main.instruction_box
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert app.main.instruction_box.value == ""
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


# -- conversation: refine, history, edit a hunk --------------------------------------------------


async def test_follow_up_instruction_refines_the_proposal_under_review(repo: Path) -> None:
    backend = ScriptedBackend()
    app = make_app(repo / "calc.py", backend)
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        backend.answer = PROPOSAL.replace("def sub(a, b):", "def sub(a: int, b: int) -> int:")
        await ask(app, pilot, "also sub")
        first, second = backend.requests
        assert (first.original, first.earlier) == (ORIGINAL, ())
        assert (second.original, second.instruction, second.earlier) == (PROPOSAL, "also sub", (INSTRUCTION,))
        assert "conversation: add type hints to add → also sub" in str(app.main.query_one("#thread").render())
        review = app.main.review
        assert review is not None and review.original == ORIGINAL  # reviewed against the file on disk
        await pilot.press("A", "enter")
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == backend.answer
        message = git(repo, "log", "-1", "--format=%B")
        assert message.startswith(INSTRUCTION) and "also sub" in message


async def refine_and_wait(app: SpeceditApp, pilot, seen: list[Message], instruction: str) -> None:  # noqa: ANN001
    """Send a follow-up instruction and wait until its generation streams."""
    frames = len(posted(seen, LiveFrame))
    app.main.instruction_box.focus()
    app.main.instruction_box.value = instruction
    await pilot.press("enter")
    for _ in range(200):  # polling until the model thread streams (no timing assertion)
        await pilot.pause(0.01)
        if len(posted(seen, LiveFrame)) > frames:
            break
    assert app.main.cancel_event is not None and app.main.review is None


async def test_cancelling_a_refinement_goes_back_to_the_review_it_refined(repo: Path) -> None:
    seen: list[Message] = []
    backend = ScriptedBackend()
    app = make_app(repo / "calc.py", backend)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await ask(app, pilot)
        await pilot.press("r")  # a decision that must survive the cancelled refinement
        backend.hold = True
        await refine_and_wait(app, pilot, seen, "also sub")
        await pilot.press("escape")
        assert app.main.cancel_event is None
        assert app.main.proposal is not None and app.main.proposal.new_text == PROPOSAL
        assert decisions(app) == ["rejected", "pending"] and app.main.conversation == (INSTRUCTION,)
        assert "refinement cancelled; back to the previous proposal" in notes(app)
        assert "conversation: add type hints to add ·" in str(app.main.query_one("#thread").render())
        await settle(app, pilot)
        assert app.main.review is not None and app.main.review_view.has_focus
        await pilot.press("enter", "y")  # the restored review applies as it was left
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == SECOND_ONLY
        assert git(repo, "log", "-1", "--format=%B").startswith(INSTRUCTION)


async def test_a_failed_refinement_keeps_the_review_and_says_why(repo: Path) -> None:
    backend = ScriptedBackend()
    app = make_app(repo / "calc.py", backend)
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        backend.fail = "out of memory"
        await ask(app, pilot, "also sub")
        assert "oom: out of memory" in notes(app)
        assert app.main.proposal is not None and app.main.proposal.new_text == PROPOSAL
        assert decisions(app) == ["pending", "pending"] and app.main.conversation == (INSTRUCTION,)


async def test_discarding_a_cut_off_refinement_goes_back_to_the_review(repo: Path) -> None:
    backend = ScriptedBackend()
    app = make_app(repo / "calc.py", backend)
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        backend.cut_at = 2
        await ask(app, pilot, "also sub")
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("d")
        await settle(app, pilot)
        assert app.main.proposal is not None and app.main.proposal.new_text == PROPOSAL
        assert app.main.review is not None and app.main.conversation == (INSTRUCTION,)
        assert "cut-off refinement was discarded; back to the previous proposal" in notes(app)


async def test_instruction_history_is_per_file_visible_and_recalled(repo: Path) -> None:
    (repo / "other.py").write_text("x = 1\n")
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot, "first")
        await pilot.press("escape")
        await ask(app, pilot, "second")
        await pilot.press("escape")
        await pilot.pause()
        assert "earlier here" in str(app.main.query_one("#thread").render())
        box = app.main.instruction_box
        box.focus()
        box.value = "draft"
        await pilot.press("up")
        assert box.value == "second"
        await pilot.press("up", "up")
        assert box.value == "first"
        await pilot.press("down", "down")
        assert box.value == "draft"
        app.main._open_file(repo / "other.py")
        await settle(app, pilot)
        assert box.history == []
        app.main._open_file(repo / "calc.py")
        await settle(app, pilot)
        assert box.history == ["first", "second"]


async def test_e_edits_a_hunk_in_the_editor_and_the_edit_is_applied(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/result/product/g' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("VISUAL", str(editor))
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        await pilot.press("r", "e")  # reject the first hunk; edit the second (which accepts it)
        await pilot.pause()
        assert decisions(app) == ["rejected", "accepted"]
        assert "product = a * b" in str(app.main.query_one("#diff-body").render())
        await pilot.press("enter")
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == SECOND_ONLY.replace("result", "product")


async def test_f_selects_the_enclosing_function_and_only_it_is_rewritten(repo: Path) -> None:
    region_answer = "def sub(a: int, b: int) -> int:\n    return a - b\n"
    backend = ScriptedBackend(answer=region_answer)
    app = make_app(repo / "calc.py", backend)
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        code = app.main.code
        code.focus()
        code.cursor_location = (5, 4)  # inside sub
        await pilot.press("f")
        await pilot.pause()
        assert "only sub (lines 5-6)" in str(app.main.query_one("#thread").render())
        await ask(app, pilot, "type sub")
        (request,) = backend.requests
        assert request.original == "def sub(a, b):\n    return a - b\n"  # the region, not the file
        review = app.main.review
        assert review is not None and len(review.hunks) == 1 and review.original == ORIGINAL
        await pilot.press("a", "enter")
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == ORIGINAL.replace(
            "def sub(a, b):", "def sub(a: int, b: int) -> int:"
        )


@pytest.mark.parametrize("passes", [True, False])
async def test_check_runs_after_apply_and_a_failure_shows_its_output(repo: Path, passes: bool) -> None:
    command = "echo checked {file}" if passes else "echo broken {file}; exit 1"
    app = make_app(repo / "calc.py", check=command)
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        await pilot.press("A", "enter")
        await settle(app, pilot)
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == PROPOSAL
        if passes:
            assert "check passed" in notes(app)
            return
        assert "check failed (exit 1)" in notes(app) and "ctrl+z reverts" in notes(app)
        assert "broken calc.py" in str(app.main.query_one("#diff-body").render())
        await pilot.press("ctrl+z")
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == ORIGINAL


# -- cancel, cut-off, findings, failures ---------------------------------------------------------


async def test_escape_drops_a_running_generation_at_once(repo: Path) -> None:
    seen: list[Message] = []
    app = make_app(repo / "calc.py", ScriptedBackend(hold=True))
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await opened(app, pilot)
        box = app.main.instruction_box
        box.value = INSTRUCTION
        await pilot.press("enter")
        for _ in range(200):  # wait until the worker streams (no timing assertion: just polling)
            await pilot.pause(0.01)
            if any(isinstance(m, LiveFrame) for m in seen):
                break
        assert app.main.cancel_event is not None
        await pilot.press("escape")
        # The UI has let go before the worker even noticed: no settle() here.
        assert app.main.cancel_event is None and app.main.review is None
        assert "cancelled" in notes(app)
        await settle(app, pilot)
        assert "cancelled" in str(app.main.query_one("#diff-body").render())
        assert not any(isinstance(m, ProposalReady) for m in seen)
        assert (repo / "calc.py").read_text() == ORIGINAL


class SlowToStop(ScriptedBackend):
    """A forward in progress when the cancel comes: the stream ends half a second later."""

    def stream(self, request, cancel=None):  # noqa: ANN001, ANN201
        for event in super().stream(request, cancel):
            if cancel is not None and cancel.is_set():
                time.sleep(0.5)
            yield event


async def test_quitting_mid_generation_stops_the_model_thread_before_exit(repo: Path) -> None:
    seen: list[Message] = []
    app = make_app(repo / "calc.py", SlowToStop(hold=True))
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await opened(app, pilot)
        app.main.instruction_box.value = INSTRUCTION
        await pilot.press("enter")
        for _ in range(200):  # polling until the model thread streams
            await pilot.pause(0.01)
            if posted(seen, LiveFrame):
                break
        runners = list(app.main._runners)
        assert runners and runners[0].is_alive()
    assert not any(runner.is_alive() for runner in runners)  # joined at unmount, not left running


@pytest.mark.parametrize(("key", "expected"), [("c", PROPOSAL), ("d", None)])
async def test_cut_off_answer_offers_continue_or_discard(repo: Path, key: str, expected: str | None) -> None:
    backend = ScriptedBackend(cut_at=3)
    app = make_app(repo / "calc.py", backend)
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        assert isinstance(app.screen, ChoiceScreen)
        assert "cut off at" in app.screen.question
        assert app.main.review is None
        await pilot.press(key)
        await settle(app, pilot)
        if expected is None:
            assert app.main.review is None and len(backend.requests) == 1
        else:
            assert backend.requests[1].prefix == "".join(PROPOSAL.splitlines(keepends=True)[:3])
            assert app.main.proposal is not None and app.main.proposal.new_text == expected
        assert (repo / "calc.py").read_text() == ORIGINAL


async def test_findings_are_shown_and_enter_asks_for_confirmation(repo: Path) -> None:
    broken = ORIGINAL.replace("def sub(a, b):", "def sub(a, b:")
    app = make_app(repo / "calc.py", ScriptedBackend(answer=broken))
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        assert app.main.proposal is not None and app.main.proposal.findings
        assert "the proposal check found" in str(app.main.query_one("#findings").render())
        await pilot.press("A", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and "Apply anyway?" in app.screen.question
        await pilot.press("n")
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == ORIGINAL
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == broken


async def test_model_load_failure_is_shown_not_raised(repo: Path) -> None:
    def broken(_args, _progress):
        raise RuntimeError("no weights in the cache")

    app = SpeceditApp(repo / "calc.py", model_args(), backend_factory=broken)
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        assert "model load failed: no weights in the cache" in notes(app)
        assert app.main.query_one("#notes").has_class("error")
        assert app.main.review is None and app.main.cancel_event is None


@pytest.mark.parametrize("size", [SIZE, (100, 30)])
async def test_a_failure_shows_its_hint_on_a_line_of_its_own(repo: Path, size: tuple[int, int]) -> None:
    """The real loader without --base-url for the openai backend: what to do is said, as on stderr."""
    seen: list[Message] = []
    app = SpeceditApp(repo / "calc.py", model_args(backend="openai", base_url=None))
    async with app.run_test(size=size, message_hook=seen.append) as pilot:
        await ask(app, pilot)
        note = app.main.query_one("#notes")
        assert notes(app).splitlines() == [
            "model load failed: --backend openai needs --base-url (or $SPECEDIT_BASE_URL)",
            "hint: e.g. --base-url http://127.0.0.1:8000/v1",
        ]
        assert note.has_class("error") and note.size.height == 2  # both lines in view, narrow too
        toast = [m.notification for m in posted(seen, Notify)][-1]
        assert toast.severity == "error" and toast.message == notes(app)


async def test_backend_error_event_is_shown(repo: Path) -> None:
    app = make_app(repo / "calc.py", ScriptedBackend(fail="out of memory"))
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        assert "oom: out of memory" in notes(app)
        assert app.main.review is None


async def test_file_changed_on_disk_offers_reload(repo: Path) -> None:
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        (repo / "calc.py").write_text(ORIGINAL + "# typed by the user\n")
        await pilot.press("A", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "changed on disk" in notes(app)
        await pilot.press("y")
        await settle(app, pilot)
        assert app.main.code.text.endswith("# typed by the user\n")
        assert app.main.review is None
        assert git(repo, "log", "-1", "--format=%s").strip() == "initial"


async def test_binary_and_huge_files_are_refused(repo: Path) -> None:
    (repo / "huge.txt").write_text("x" * (MAX_BYTES + 1))
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        app.main._open_file(repo / "logo.png")
        await settle(app, pilot)
        assert "binary" in notes(app)
        app.main._open_file(repo / "huge.txt")
        await settle(app, pilot)
        assert "MB" in notes(app)
        assert app.main.current == (repo / "calc.py").resolve()


def test_read_editable_keeps_line_endings_and_refuses_non_utf8(tmp_path: Path) -> None:
    crlf = tmp_path / "a.txt"
    crlf.write_bytes(b"one\r\ntwo\r\n")
    assert read_editable(crlf) == "one\r\ntwo\r\n"
    latin = tmp_path / "b.txt"
    latin.write_bytes(b"caf\xe9\n")
    with pytest.raises(FileRefused, match="not UTF-8"):
        read_editable(latin)


# -- not a repository ----------------------------------------------------------------------------


async def test_not_a_repo_offers_git_init(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "calc.py").write_text(ORIGINAL)
    app = make_app(folder / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(app, pilot)
        assert (folder / ".git").is_dir() and app.main.repo is not None
        await ask(app, pilot)
        await pilot.press("A", "enter")
        await settle(app, pilot)
        assert (folder / "calc.py").read_text() == PROPOSAL
        assert git(folder, "log", "-1", "--format=%s").strip() == INSTRUCTION


async def test_declining_git_init_leaves_the_folder_alone(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "calc.py").write_text(ORIGINAL)
    app = make_app(folder / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        assert not (folder / ".git").exists() and app.main.repo is None
        assert "no git repository" in notes(app)
        await ask(app, pilot)
        await pilot.press("A", "enter")  # apply: asks again instead of writing
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert (folder / "calc.py").read_text() == ORIGINAL


# -- keys, palette, help, layout, theme ----------------------------------------------------------


async def test_help_lists_every_key_and_explains_the_status_bar(repo: Path) -> None:
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(row[1] + " " + row[2] for row in app.screen.rows)
        for key in ("j", "k", "a", "r", "A", "R", "e", "enter", "escape", "ctrl+z", "ctrl+y", "ctrl+b", "up"):
            assert key in text.split() or f"{key} /" in text or f"/ {key}" in text, key
        assert "mean acceptance length" in text and "tokens/target forward" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_lists_keys_once_and_runs_review_actions(repo: Path) -> None:
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert titles.count("Keys") == 1
        assert len(titles) == len(set(titles))
        for title in ("Apply hunks", "Accept all hunks", "Reject all hunks", "Undo last edit", "Help"):
            assert title in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Reject all hunks".replace(" ", ""))
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert decisions(app) == ["rejected", "rejected"]


async def test_narrow_terminal_hides_the_tree_and_stacks_the_panes(repo: Path) -> None:
    app = make_app(repo)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.main
        picker, code, diff = (screen.query_one(f"#{name}") for name in ("picker", "code", "diff"))
        assert picker.display and app.focused is picker  # a folder: start in the tree, even narrow
        await pilot.pause(0.2)
        await pilot.press("down", "down", "enter")  # the second file after .gitignore
        await settle(app, pilot)
        assert app.main.current is not None and app.main.current.parent == repo.resolve()
        assert not picker.display  # a file is open: the narrow layout gives it the room
        assert diff.region.y > code.region.y and diff.region.width == code.region.width >= 78
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert picker.display and app.focused is picker
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert not picker.display
        await pilot.resize_terminal(140, 40)
        await pilot.pause()
        assert picker.display and diff.region.y == code.region.y  # wide again: tree back, side by side
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert not picker.display  # hidden by the user while wide
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert picker.display  # shown by the user while narrow


async def test_legend_names_the_layer_colours(repo: Path) -> None:
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        legend = app.main.query_one("#legend").render()
        assert "lookup draft target" in str(legend) and "rejected" in str(legend)


async def test_long_lines_scroll_horizontally(repo: Path) -> None:
    long_line = "x = '" + "y" * 300 + "'\n"
    app = make_app(repo / "calc.py", ScriptedBackend(answer=ORIGINAL + long_line))
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        view = app.main.review_view
        assert view.max_scroll_x > 200
        view.scroll_to(x=view.max_scroll_x, animate=False)
        await pilot.pause()
        assert view.scroll_x > 200


async def test_theme_flag_palette_switch_and_persistence(repo: Path) -> None:
    app = make_app(repo / "calc.py", theme="specedit-light")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "specedit-light"
        assert app.theme_variables["spec-lookup"] == "#0f7b7b"
        app.action_toggle_theme()
        await pilot.pause()
        for _ in range(300):  # the choice is saved by a thread worker: polling, not timing
            if load_config()[0].theme == "specedit-dark":
                break
            await pilot.pause(0.01)
        assert app.theme == "specedit-dark"
    assert load_config() == (UiConfig(theme="specedit-dark"), None)
    again = make_app(repo / "calc.py")
    async with again.run_test(size=SIZE) as pilot:
        assert again.theme == "specedit-dark"
        again.theme = "textual-light"  # a builtin theme still gets the speculation colours
        await pilot.pause()
        assert again.theme_variables["spec-draft"]


def test_config_survives_garbage_and_writes_atomically(tmp_path: Path) -> None:
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    config, problem = load_config()
    assert config == UiConfig() and problem is not None and "unreadable" in problem
    save_config(UiConfig(theme="specedit-light"))
    assert json.loads(path.read_text()) == {"theme": "specedit-light"}
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]


async def test_file_picker_shows_what_can_be_edited(repo: Path) -> None:
    app = make_app(repo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        tree = app.main.query_one("#picker")
        shown = {str(node.label) for node in tree.root.children}
        assert shown == {".gitignore", "README.md", "calc.py"}
        assert app.focused is tree
        assert isinstance(app.screen, MainScreen)


async def test_ignored_file_is_refused_before_the_model_runs(repo: Path) -> None:
    (repo / ".gitignore").write_text("secret.py\n")
    (repo / "secret.py").write_text(ORIGINAL)
    backend = ScriptedBackend()
    app = make_app(repo / "secret.py", backend)
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        assert "ignored" in notes(app)
        assert backend.requests == []
