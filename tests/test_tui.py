"""Pilot tests of the TUI: the whole edit flow with a scripted backend in a temporary git repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.content import Content

from app.files import MAX_BYTES, FileRefused, read_editable
from app.live import REJECT_FLASH_S, LiveText
from app.review import ReviewState
from app.tui import SpeceditApp
from app.ui_config import UiConfig, config_path, load_config, save_config
from app.widgets.code_view import CodeView
from app.widgets.dialogs import ConfirmScreen, HelpScreen
from app.widgets.diff_view import DiffView
from app.widgets.file_picker import visible_paths
from app.widgets.history_input import HistoryInput
from app.widgets.status_bar import status_content
from decoding.events import Span, Stats
from tests.tui_support import (
    FIRST_ONLY,
    INSTRUCTION,
    ORIGINAL,
    PROPOSAL,
    ScriptedBackend,
    git,
    make_repo,
    model_args,
)
from vcs.hunks import compute_hunks

SIZE = (140, 40)


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
    return str(app.query_one("#notes").render())


async def settle(app: SpeceditApp, pilot) -> None:  # noqa: ANN001
    """Wait for the app's generation and git workers (the file tree's loader never completes)."""
    mine = [w for w in app.workers if w.group in ("generate", "git")]
    if mine:  # an empty list would mean "every worker", the never-ending tree loader included
        await app.workers.wait_for_complete(mine)
    await pilot.pause()


async def ask(app: SpeceditApp, pilot, instruction: str = INSTRUCTION) -> None:  # noqa: ANN001
    box = app.query_one("#instruction", HistoryInput)
    box.focus()
    box.value = instruction
    await pilot.press("enter")
    await settle(app, pilot)


# -- the full flow -------------------------------------------------------------------------------


async def test_accept_one_reject_other_apply_commit_and_undo(repo: Path) -> None:
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.query_one("#code", CodeView).text == ORIGINAL
        await ask(app, pilot)
        assert app.review is not None and len(app.review.hunks) == 2
        assert app.focused is app.query_one("#diff", DiffView)
        assert "2 hunks" in notes(app)
        status = str(app.query_one("#status").render())
        assert "scripted (cpu)" in status and "speed-up est." in status

        await pilot.press("a", "r")  # accept the first hunk (moves on), reject the second
        assert [app.review.decision(h) for h in app.review.hunks] == ["accepted", "rejected"]
        await pilot.press("enter")
        await settle(app, pilot)

        assert (repo / "calc.py").read_text() == FIRST_ONLY
        assert app.query_one("#code", CodeView).text == FIRST_ONLY
        assert git(repo, "log", "-1", "--format=%s").strip() == INSTRUCTION
        assert "Specedit-Edit: 1" in git(repo, "log", "-1", "--format=%B")
        assert git(repo, "status", "--porcelain").strip() == ""
        assert "applied 1 hunk" in notes(app)

        await pilot.press("ctrl+z")
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == ORIGINAL
        assert app.query_one("#code", CodeView).text == ORIGINAL
        assert git(repo, "log", "-1", "--format=%s").strip() == "initial"

        await pilot.press("ctrl+y")
        await settle(app, pilot)
        assert (repo / "calc.py").read_text() == FIRST_ONLY


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
        assert app.proposal is not None and app.proposal.new_text == PROPOSAL
        assert "edit cache" in notes(app)


async def test_review_keys_type_letters_in_the_instruction_box(repo: Path) -> None:
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        app.query_one("#instruction").focus()
        await pilot.press("a", "r", "j", "k", "question_mark")
        assert app.query_one("#instruction", HistoryInput).value == "arjk?"
        assert all(app.review.decision(h) == "pending" for h in app.review.hunks)
        assert not isinstance(app.screen, HelpScreen)


async def test_instruction_history_with_up_and_down(repo: Path) -> None:
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot, "first")
        await ask(app, pilot, "second")
        box = app.query_one("#instruction", HistoryInput)
        box.focus()
        box.value = "draft"
        await pilot.press("up")
        assert box.value == "second"
        await pilot.press("up", "up")
        assert box.value == "first"
        await pilot.press("down", "down")
        assert box.value == "draft"


async def test_request_carries_the_relative_path_and_the_file_text(repo: Path) -> None:
    backend = ScriptedBackend()
    app = make_app(repo, backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app._open_file(repo / "calc.py")
        await ask(app, pilot)
        (request,) = backend.requests
        assert (request.path, request.original, request.instruction) == ("calc.py", ORIGINAL, INSTRUCTION)


# -- cancel, failures ----------------------------------------------------------------------------


async def test_escape_cancels_a_running_generation(repo: Path) -> None:
    app = make_app(repo / "calc.py", ScriptedBackend(hold=True))
    async with app.run_test(size=SIZE) as pilot:
        box = app.query_one("#instruction", HistoryInput)
        box.focus()
        box.value = INSTRUCTION
        await pilot.press("enter")
        for _ in range(200):  # wait until the worker streams (no timing assertion: just polling)
            await pilot.pause(0.01)
            if "add" in str(app.query_one("#diff-body").render()):
                break
        assert app.cancel_event is not None
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.cancel_event is None and app.review is None
        assert "cancelled" in notes(app)
        assert (repo / "calc.py").read_text() == ORIGINAL


async def test_model_load_failure_is_shown_not_raised(repo: Path) -> None:
    def broken(_args, _progress):
        raise RuntimeError("no weights in the cache")

    app = SpeceditApp(repo / "calc.py", model_args(), backend_factory=broken)
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        assert "model load failed: no weights in the cache" in notes(app)
        assert app.query_one("#notes").has_class("error")
        assert app.review is None and app.cancel_event is None


async def test_backend_error_event_is_shown(repo: Path) -> None:
    app = make_app(repo / "calc.py", ScriptedBackend(fail="out of memory"))
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        assert "oom: out of memory" in notes(app)
        assert app.review is None


async def test_file_changed_on_disk_offers_reload(repo: Path) -> None:
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        (repo / "calc.py").write_text(ORIGINAL + "# typed by the user\n")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "changed on disk" in notes(app)
        await pilot.press("y")
        await pilot.pause()
        assert app.query_one("#code", CodeView).text.endswith("# typed by the user\n")
        assert app.review is None
        assert git(repo, "log", "-1", "--format=%s").strip() == "initial"


async def test_binary_and_huge_files_are_refused(repo: Path) -> None:
    (repo / "huge.txt").write_text("x" * (MAX_BYTES + 1))
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app._open_file(repo / "logo.png")
        assert "binary" in notes(app)
        app._open_file(repo / "huge.txt")
        assert "MB" in notes(app)
        assert app.current == (repo / "calc.py").resolve()


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
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert (folder / ".git").is_dir() and app.repo is not None
        await ask(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert (folder / "calc.py").read_text() == PROPOSAL
        assert git(folder, "log", "-1", "--format=%s").strip() == INSTRUCTION


async def test_declining_git_init_leaves_the_folder_alone(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "calc.py").write_text(ORIGINAL)
    app = make_app(folder / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert not (folder / ".git").exists() and app.repo is None
        assert "no git repository" in notes(app)
        await ask(app, pilot)
        await pilot.press("enter")  # apply: asks again instead of writing
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert (folder / "calc.py").read_text() == ORIGINAL


# -- keys, palette, help, theme ------------------------------------------------------------------


async def test_help_lists_every_key(repo: Path) -> None:
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(row[1] + " " + row[2] for row in app.screen.rows)
        for key in ("j", "k", "a", "r", "A", "R", "enter", "escape", "ctrl+z", "ctrl+y", "ctrl+p", "up"):
            assert key in text.split() or f"{key} /" in text or f"/ {key}" in text, key
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_runs_review_actions(repo: Path) -> None:
    app = make_app(repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in (
            "Apply accepted hunks",
            "Accept all hunks",
            "Reject all hunks",
            "Undo last edit",
            "Keys",
        ):
            assert title in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Reject all hunks".replace(" ", ""))
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert all(app.review.decision(h) == "rejected" for h in app.review.hunks)


async def test_theme_flag_palette_switch_and_persistence(repo: Path) -> None:
    app = make_app(repo / "calc.py", theme="specedit-light")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "specedit-light"
        assert app.theme_variables["spec-lookup"] == "#0f7b7b"
        app.action_toggle_theme()
        await pilot.pause()
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


# -- pieces --------------------------------------------------------------------------------------


async def test_file_picker_hides_ignored_binary_and_git(repo: Path) -> None:
    names = sorted(p.name for p in visible_paths(repo, repo.iterdir()))
    assert names == [".gitignore", "README.md", "calc.py"]
    app = make_app(repo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        tree = app.query_one("#picker")
        shown = {str(node.label) for node in tree.root.children}
        assert shown == {".gitignore", "README.md", "calc.py"}
        assert app.focused is tree


def test_live_text_colours_layers_and_flashes_rejected_drafts() -> None:
    live = LiveText("a = 1\nb = 2\nc = 3\n")
    live.add(Span("a = 1\n", (1,), "lookup", True), now=0.0)
    live.add(Span("b = 9", (2,), "draft", False), now=0.0)
    live.add(Span("b = 2\n", (3,), "target", True), now=0.0)
    shown = live.render(now=0.0)
    styles = {str(span.style) for span in shown.spans}
    assert {"$spec-lookup", "$spec-target", "$spec-rejected dim strike"} <= styles
    assert "b = 9" in shown.plain
    assert "c = 3" not in shown.plain  # not reached yet: not a deletion
    later = live.render(now=REJECT_FLASH_S + 0.1, finished=True)
    assert "b = 9" not in later.plain
    assert "- c = 3" in later.plain  # the finished text really dropped it
    assert live.text == "a = 1\nb = 2\n"


def test_live_text_ends_the_file_at_the_closing_fence() -> None:
    live = LiveText("x = 1\n")
    live.add(Span("x = 2\n```\nchatter after the answer\n", (1,), "target", True), now=0.0)
    shown = live.render(now=0.0).plain
    assert "chatter" not in shown and "- x = 1" in shown and "+ x = 2" in shown
    assert shown.splitlines()[-1].strip() == "``` end of the answer"


def test_live_text_rows_rebuild_both_files_while_streaming() -> None:
    original = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(100))
    lines = original.splitlines(keepends=True)
    lines[30] = "    return x - 10\n"
    del lines[150:153]
    lines.insert(200, "# a new comment\n")
    proposal = "".join(lines)
    live = LiveText(original)
    for index, line in enumerate(lines):
        live.add(Span(line, (index,), "lookup", True), now=float(index))
        if index % 7 == 0:
            live.render(now=float(index))  # intermediate renders move the diff's anchor
    rows = live.render(now=1e9, finished=True).plain.splitlines()
    assert [r[2:] for r in rows if r[:2] in ("  ", "- ")] == original.splitlines()
    assert [r[2:] for r in rows if r[:2] in ("  ", "+ ")] == proposal.splitlines()
    assert sum(r.startswith(("- ", "+ ")) for r in rows) == 2 + 3 + 1


def test_live_text_marks_changed_lines() -> None:
    live = LiveText("x = 1\ny = 2\n")
    live.add(Span("x = 1\ny = 3\n", (1,), "lookup", True), now=0.0)
    lines = live.render(now=0.0, finished=True).plain.splitlines()
    assert lines[:3] == ["  x = 1", "- y = 2", "+ y = 3"]


def test_review_state_decisions_and_render() -> None:
    review = ReviewState(ORIGINAL, PROPOSAL, compute_hunks(ORIGINAL, PROPOSAL))
    assert review.accepted_ids() == {h.id for h in review.hunks}  # undecided hunks apply
    review.decide("rejected")
    assert review.selected == 1
    review.move(5)
    assert review.selected == 1
    review.decide_all("accepted")
    review.move(-1)
    review.decide("rejected")
    assert review.accepted_ids() == {review.hunks[1].id}
    content, offsets = review.render()
    assert isinstance(content, Content) and len(offsets) == 2
    lines = content.plain.splitlines()
    assert lines[offsets[0]].startswith("  @@ -1,1 +1,1 @@") and lines[offsets[0]].endswith("✗ rejected")
    assert lines[offsets[1]].startswith("▶ @@") and lines[offsets[1]].endswith("✓ accepted")  # selected


def test_status_bar_labels_the_speed_up_as_an_estimate() -> None:
    stats = Stats(
        new_tokens=100, chars=400, target_forwards=25, proposed={"lookup": 80}, accepted={"lookup": 60}
    )
    text = status_content("tiny (cpu)", Stats(**{**stats.__dict__, "elapsed": 2.0})).plain
    assert "50.0 tok/s" in text and "200 chars/s" in text and "lookup 75%" in text
    assert "speed-up est. 4.0x (tok/fwd)" in text
    assert status_content("tiny (cpu)", None).plain == "tiny (cpu)"


def test_status_bar_shows_a_servers_prediction_usage() -> None:
    stats = Stats(
        new_tokens=10,
        chars=40,
        elapsed=1.0,
        remote_accepted_prediction_tokens=7,
        remote_rejected_prediction_tokens=2,
    )
    text = status_content("server", stats).plain
    assert "prediction 7 accepted / 2 rejected" in text and "tok/fwd" not in text


def test_first_frame_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, app.tui, app.commands.open; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
