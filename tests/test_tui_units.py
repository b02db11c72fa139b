"""The TUI's pieces without a terminal: live diff, review state, hunk editing, status bar, file picker."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from textual.content import Content

from app.generation import run_generation
from app.hunk_edit import HunkEditError, hunk_text, parse_hunk_text
from app.live import REJECT_FLASH_S, LiveText
from app.messages import LiveFrame
from app.review import ReviewState
from app.widgets.file_picker import visible_paths
from app.widgets.status_bar import layer_legend, status_content
from decoding.events import Prefill, Span, Stats
from tests.tui_support import ORIGINAL, PROPOSAL, make_repo
from themes.specedit import LAYER_STYLE, REJECTED_STYLE
from vcs.hunks import apply_hunks, compute_hunks

# -- live diff -----------------------------------------------------------------------------------


def test_live_text_colours_layers_and_flashes_rejected_drafts() -> None:
    live = LiveText("a = 1\nb = 2\nc = 3\n")
    live.add(Span("a = 1\n", (1,), "lookup", True), now=0.0)
    live.add(Span("b = 9", (2,), "draft", False), now=0.0)
    live.add(Span("b = 2\n", (3,), "target", True), now=0.0)
    shown = live.render(now=0.0)
    styles = {str(span.style) for span in shown.spans}
    assert {LAYER_STYLE["lookup"], LAYER_STYLE["target"], REJECTED_STYLE} <= styles
    assert "b = 9" in shown.plain
    assert "c = 3" not in shown.plain  # not reached yet: not a deletion
    later = live.render(now=REJECT_FLASH_S + 0.1, finished=True)
    assert "b = 9" not in later.plain
    assert "- c = 3" in later.plain  # the finished text really dropped it
    assert live.text == "a = 1\nb = 2\n"


def test_live_text_does_not_draw_the_unreached_file_as_deleted_after_a_changed_line() -> None:
    original = "".join(f"line {i}\n" for i in range(50))
    live = LiveText(original)
    live.add(Span("line 0\nline 1\nCHANGED 2\n", (1,), "target", True), now=0.0)
    rows = live.render(now=0.0).plain.splitlines()
    removed = [row for row in rows if row.startswith("- ")]
    assert removed == ["- line 2"]  # the line it replaces, not the 47 lines it has not reached
    assert "+ CHANGED 2" in rows


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


# -- review state --------------------------------------------------------------------------------


def test_review_state_keeps_pending_apart_and_says_what_enter_does() -> None:
    review = ReviewState(ORIGINAL, PROPOSAL, compute_hunks(ORIGINAL, PROPOSAL))
    first, second = (h.id for h in review.hunks)
    assert review.ids("accepted") == set() and review.ids("pending") == {first, second}
    assert review.enter_hint() == "enter: apply 0 accepted, then asks about 2 pending"
    review.decide("rejected")
    assert review.selected == 1
    review.move(5)
    assert review.selected == 1
    review.decide("accepted")
    assert review.enter_hint() == "enter: apply 1 accepted"
    assert review.summary() == "2 hunks: 1 accepted, 1 rejected, 0 pending"
    review.decide_all("rejected")
    assert review.enter_hint() == "nothing accepted · escape dismisses"
    content, offsets = review.render()
    assert isinstance(content, Content) and len(offsets) == 2
    lines = content.plain.splitlines()
    assert lines[offsets[0]].startswith("  @@ -1,1 +1,1 @@") and lines[offsets[0]].endswith("✗ rejected")
    assert lines[offsets[1]].startswith("▶ @@")  # selected


# -- editing a hunk ------------------------------------------------------------------------------


def _second_hunk():  # noqa: ANN202
    return compute_hunks(ORIGINAL, PROPOSAL)[1]


def test_hunk_text_round_trips_unchanged() -> None:
    hunk = _second_hunk()
    assert parse_hunk_text(hunk, hunk_text(hunk)) == hunk


def test_edited_plus_lines_and_kept_minus_lines_become_the_new_lines() -> None:
    hunk = _second_hunk()
    text = hunk_text(hunk).replace("+    result = a * b\n", "+    product = a * b\n+    # checked\n")
    text = text.replace("-    return a * b\n", "     return a * b\n").replace("+    return result\n", "")
    edited = parse_hunk_text(hunk, text)
    assert edited is not None and edited.id == hunk.id
    assert edited.new_lines == ("    return a * b\n", "    product = a * b\n", "    # checked\n")
    applied = apply_hunks(ORIGINAL, [edited], {edited.id})
    assert "    return a * b\n    product = a * b\n    # checked\n" in applied


def test_edited_hunk_keeps_crlf_and_an_emptied_file_aborts() -> None:
    original, proposal = "a\r\nb\r\n", "a\r\nc\r\n"
    (hunk,) = compute_hunks(original, proposal)
    edited = parse_hunk_text(hunk, hunk_text(hunk).replace("+c", "+d"))
    assert edited is not None and apply_hunks(original, [edited], {hunk.id}) == "a\r\nd\r\n"
    assert parse_hunk_text(hunk, "# all comments\n\n") is None


@pytest.mark.parametrize(
    ("change", "error"),
    [(("-b", "-x"), "original"), (("+c", "?c"), "starts with '?'")],
)
def test_bad_hunk_edits_are_refused_with_the_reason(change: tuple[str, str], error: str) -> None:
    (hunk,) = compute_hunks("a\nb\n", "a\nc\n")
    with pytest.raises(HunkEditError, match=error):
        parse_hunk_text(hunk, hunk_text(hunk).replace(*change))


# -- status bar, picker, startup -----------------------------------------------------------------


def test_status_bar_uses_the_standard_names() -> None:
    stats = Stats(
        new_tokens=100,
        chars=400,
        target_forwards=25,
        proposed={"lookup": 80},
        accepted={"lookup": 60},
        drafts=20,
        accepted_at=(20, 20, 15, 5),
        elapsed=2.0,
    )
    text = status_content("tiny (cpu)", stats).plain
    assert "50.0 tok/s" in text and "200 chars/s" in text and "lookup 75%" in text
    assert "mean acceptance length 4.00" in text and "4.00 tokens/target forward" in text
    assert "speed-up" not in text
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
    assert "prediction 7 accepted / 2 rejected" in text and "target forward" not in text


def test_legend_and_live_diff_share_one_style_table() -> None:
    legend = layer_legend()
    styles = {str(span.style) for span in legend.spans}
    assert set(LAYER_STYLE.values()) | {REJECTED_STYLE} <= styles


def test_file_picker_hides_ignored_binary_and_git(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    names = sorted(p.name for p in visible_paths(repo, repo.iterdir()))
    assert names == [".gitignore", "README.md", "calc.py"]


def test_first_frame_does_not_import_torch() -> None:
    code = "import sys, app.tui, app.commands.open; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_long_prefill_is_shown_as_reading_progress() -> None:
    posted: list[object] = []
    events = iter([Prefill(512, 2048), Prefill(1024, 2048)])
    run_generation(1, events, ORIGINAL, threading.Event(), posted.append)
    frames = [m.content.plain for m in posted if isinstance(m, LiveFrame)]
    assert frames == [
        "Reading the file… 25% of 2048 prompt tokens",
        "Reading the file… 50% of 2048 prompt tokens",
    ]
