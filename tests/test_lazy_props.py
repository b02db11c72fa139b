"""Round trips: a lazy answer built from a real (before, after) pair merges back to exactly ``after``.

The builder writes the answer a careful model would: every changed or new block of ``after``, the
unchanged neighbours that anchor a change or deletion, a marker for each other run of unchanged
blocks, and a block changed under the same name shown with markers inside when that is shorter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from decoding.lazy.blocks import Block, Source, first_error_row, nested_blocks, parse, split_lines, top_blocks
from decoding.lazy.merge import MergeRefused, merge_lazy
from decoding.prompts import comment_marker

EDITEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "editeval.jsonl"


def _blanks_above(source: Source, row: int) -> list[str]:
    first = row
    while first > 0 and not source.lines[first - 1].strip():
        first -= 1
    return source.lines[first:row]


def _blanks_below(source: Source, row: int) -> list[str]:
    last = row
    while last + 1 < len(source.lines) and not source.lines[last + 1].strip():
        last += 1
    return source.lines[row + 1 : last + 1]


def _marker_runs(b: Source, bb: list[Block], f: Source, fb: list[Block]) -> list[tuple[int, int]]:
    """Rows of ``after`` (first, last) that a marker can stand for, at this level and below."""
    runs: list[tuple[int, int]] = []
    texts = SequenceMatcher(
        None,
        [b.row_text(x.first, x.last) for x in bb],
        [f.row_text(x.first, x.last) for x in fb],
        autojunk=False,
    )
    ops = texts.get_opcodes()
    for k, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "replace" and i2 - i1 == j2 - j1:
            for old, new in zip(bb[i1:i2], fb[j1:j2], strict=True):
                inner_b, inner_f = nested_blocks(b, old), nested_blocks(f, new)
                if old.name and (old.kind, old.name) == (new.kind, new.name) and inner_b and inner_f:
                    runs += _marker_runs(b, inner_b, f, inner_f)
        if tag != "equal":
            continue
        lead = k > 0 and ops[k - 1][0] in ("delete", "replace")  # a deletion needs an anchor on each side
        trail = k + 1 < len(ops)  # a change or insertion needs one before it
        lo, hi = j1 + lead, j2 - trail
        # The merge takes the blank lines around a marker from the original: a block whose blank
        # lines the edit changed is shown.
        while lo < hi and _blanks_above(f, fb[lo].first) != _blanks_above(b, bb[i1 + lo - j1].first):
            lo += 1
        while lo < hi and _blanks_below(f, fb[hi - 1].last) != _blanks_below(b, bb[i1 + hi - 1 - j1].last):
            hi -= 1
        if lo < hi:
            same = b.row_text(bb[i1 + lo - j1].first, bb[i1 + hi - 1 - j1].last)
            if same == f.row_text(fb[lo].first, fb[hi - 1].last):  # blank lines inside the run too
                runs.append((fb[lo].first, fb[hi - 1].last))
    return runs


def build_lazy_answer(before: str, after: str, language: str) -> str:
    b = parse(before, language, answer=False)
    f = parse(after, language, answer=False)
    lines = list(f.lines)
    for first, last in sorted(_marker_runs(b, top_blocks(b), f, top_blocks(f)), reverse=True):
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        end = "\n" if lines[last].endswith("\n") else ""
        lines[first : last + 1] = [indent + comment_marker(language) + end]
    return "".join(lines)


# --- synthetic files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """A function (no members) or a container (class, impl, media query) of member functions."""

    name: str
    value: int
    members: tuple[Item, ...] | None = None


TEMPLATES = {  # language: (file head, function, container open, member, container close)
    "python": (
        "",
        "def {n}(x):\n    return x + {v}\n",
        "class {n}:\n",
        "    def {n}(self):\n        return {v}\n",
        "",
    ),
    "javascript": (
        "",
        "function {n}(x) {{\n  return x + {v};\n}}\n",
        "class {n} {{\n",
        "  {n}() {{\n    return {v};\n  }}\n",
        "}}\n",
    ),
    "typescript": (
        "",
        "export function {n}(x: number): number {{\n  return x + {v};\n}}\n",
        "export class {n} {{\n",
        "  {n}(): number {{\n    return {v};\n  }}\n",
        "}}\n",
    ),
    "go": ("package p\n\n", "func {n}(x int) int {{\n\treturn x + {v}\n}}\n", None, None, None),
    "rust": (
        "",
        "fn {n}(x: i32) -> i32 {{\n    x + {v}\n}}\n",
        "impl {n} {{\n",
        "    fn {n}(&self) -> i32 {{\n        {v}\n    }}\n",
        "}}\n",
    ),
    "java": ("", None, "class {n} {{\n", "    int {n}() {{\n        return {v};\n    }}\n", "}}\n"),
    "css": (
        "",
        ".{n} {{\n  width: {v}px;\n}}\n",
        "@media (min-width: {n}px) {{\n",
        "  .{n} {{\n    width: {v}px;\n  }}\n",
        "}}\n",
    ),
}


def render(
    items: list[Item], language: str, top_gap: int = 1, member_gap: Callable[[Item], int] = lambda _: 1
) -> str:
    """The file, with ``top_gap`` blank lines between top-level items and ``member_gap(container)``
    between the members of each container."""
    head, function, open_, member, close = TEMPLATES[language]
    parts = []
    for item in items:
        if item.members is None:
            parts.append(function.format(n=item.name, v=item.value))
        else:
            body = ("\n" * member_gap(item)).join(member.format(n=m.name, v=m.value) for m in item.members)
            parts.append(open_.format(n=item.name) + body + close.format())
    return head + ("\n" * top_gap).join(parts)


def lines_of(item: Item, language: str, *, member: bool = False, member_gap: int = 1) -> int:
    if member:
        return TEMPLATES[language][3].format(n=item.name, v=item.value).count("\n")
    rendered = render([item], language, member_gap=lambda _: member_gap)
    return rendered.count("\n") - TEMPLATES[language][0].count("\n")


@st.composite
def edits(draw: st.DrawFn, language: str) -> tuple[list[Item], list[Item]]:
    head, function, open_, _, _ = TEMPLATES[language]
    counter = iter(range(10_000))

    def fresh() -> str:
        return f"n{next(counter)}" if language != "css" else f"{100 + next(counter)}"

    def new_item(container: bool) -> Item:
        if not container:
            return Item(("f" if language != "css" else "c") + fresh(), draw(st.integers(0, 9)))
        members = tuple(Item("m" + fresh(), draw(st.integers(0, 9))) for _ in range(draw(st.integers(1, 4))))
        return Item(fresh() if language == "css" else "C" + fresh(), 0, members)

    kinds = [k for k, t in ((False, function), (True, open_)) if t is not None]
    before = [new_item(draw(st.sampled_from(kinds))) for _ in range(draw(st.integers(1, 8)))]

    def edit(items: list[Item], make: st.SearchStrategy[Item], nested: bool) -> list[Item]:
        out: list[Item] = []
        for item in items:
            op = draw(st.sampled_from(["keep", "keep", "change", "delete", "rename", "insert"]))
            if op == "insert":
                out.append(draw(make))
            if op in {"keep", "insert"}:
                out.append(item)
            elif op == "change" and item.members is not None and not nested:
                out.append(replace(item, members=tuple(edit(list(item.members), member_items, True))))
            elif op == "change":
                out.append(replace(item, value=item.value + 1))
            elif op == "rename":
                out.append(replace(item, name=item.name + "r"))
        return out

    member_items = st.builds(lambda v: Item("m" + fresh(), v), st.integers(0, 9))
    top_items = st.sampled_from(kinds).map(new_item)
    after = edit(before, top_items, False)
    return before, [i for i in after if i.members is None or i.members]


LANGS = sorted(TEMPLATES)


def removed_lines(
    before_items: list[Item], after_items: list[Item], language: str, member_gap: int = 1
) -> int:
    """Lines of the blocks the edit deletes (a container's blank lines between members included)."""
    gone = {i.name for i in before_items} - {i.name for i in after_items}
    removed = sum(lines_of(i, language, member_gap=member_gap) for i in before_items if i.name in gone)
    for old in before_items:  # members removed from containers that stay
        new = next((i for i in after_items if i.name == old.name and i.members), None)
        if old.members and new is not None:
            kept = {m.name for m in new.members}
            removed += sum(lines_of(m, language, member=True) for m in old.members if m.name not in kept)
    return removed


@pytest.mark.parametrize("language", LANGS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_lazy_answer_built_from_an_edit_merges_back(language, data):
    before_items, after_items = data.draw(edits(language))
    before, after = render(before_items, language), render(after_items, language)
    # the merge refuses larger deletions, by design
    assume(removed_lines(before_items, after_items, language) <= 0.3 * before.count("\n"))
    answer = build_lazy_answer(before, after, language)
    event("answer with markers" if comment_marker(language) in answer else "answer without markers")
    assert merge_lazy(before, answer, language).text == after


def convention(language: str, *, top: bool) -> int:
    """Blank lines around a new definition where the original shows no spacing of its own (PEP 8)."""
    return 2 if language == "python" and top else 1


@pytest.mark.parametrize("language", LANGS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_blank_lines_around_markers_do_not_change_the_merge(language, data):
    """Markers standing for runs of unchanged blocks, with any blank lines around them, give back the
    intended file exactly: the original's spacing at each level (the convention where it has none)."""
    before_items, after_items = data.draw(edits(language))
    top, member = (
        data.draw(st.integers(0, 3), label="top gap"),
        data.draw(st.integers(0, 3), label="member gap"),
    )
    before = render(before_items, language, top, lambda _: member)
    assume(removed_lines(before_items, after_items, language, member) <= 0.3 * before.count("\n"))
    members_before = {i.name: len(i.members) for i in before_items if i.members}
    after = render(
        after_items,
        language,
        top if len(before_items) >= 2 else convention(language, top=True),
        lambda c: member if members_before.get(c.name, 0) >= 2 else convention(language, top=False),
    )
    answer = []
    for line in split_lines(build_lazy_answer(before, after, language)):
        if line.strip() != comment_marker(language):
            answer.append(line)
            continue
        around = data.draw(st.tuples(st.integers(0, 3), st.integers(0, 3)), label="blank lines around")
        answer += ["\n"] * around[0] + [line] + ["\n"] * around[1]
        event("answer with markers")
    assert merge_lazy(before, "".join(answer), language).text == after


@pytest.mark.parametrize("language", LANGS)
def test_builder_really_writes_markers(language):
    """Guards the property above against testing only marker-free answers."""
    before_items = [Item(f"f{i}" if language != "css" else f"c{i}", i) for i in range(6)]
    if language == "java":
        before_items = [Item(f"C{i}", 0, (Item(f"m{i}", i),)) for i in range(6)]
    after_items = [*before_items[:3], replace(before_items[3], value=99), *before_items[4:]]
    if language == "java":
        after_items[3] = replace(before_items[3], members=(Item("m3", 99),))
    before, after = render(before_items, language), render(after_items, language)
    answer = build_lazy_answer(before, after, language)
    assert answer.count(comment_marker(language)) >= 2 and len(answer) < len(after)
    assert merge_lazy(before, answer, language).text == after


# --- real edits ----------------------------------------------------------------------------------------


def _editeval_python() -> list[dict]:
    if not EDITEVAL.exists():
        pytest.skip(f"benchmark data not found at {EDITEVAL} (CI has it at ../shared/data)")
    rows = [json.loads(line) for line in EDITEVAL.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["lang"] == "python"]


def test_editeval_lazy_answers_merge_back_to_after():
    """Every EditEval item whose before and after parse, minus those the 30 % rule refuses."""
    items = _editeval_python()
    parsed = [
        r
        for r in items
        if first_error_row(parse(r["before"], "python", answer=False)) is None
        and first_error_row(parse(r["after"], "python", answer=False)) is None
    ]
    exact, with_markers, refused = 0, 0, []
    for r in parsed:
        answer = build_lazy_answer(r["before"], r["after"], "python")
        try:
            merged = merge_lazy(r["before"], answer, "python").text
        except MergeRefused as exc:
            assert "would delete" in exc.reason, (r["id"], exc.reason)
            refused.append(r["id"])
            continue
        assert merged == r["after"], r["id"]
        exact += 1
        with_markers += answer != r["after"]
    accepted = len(parsed) - len(refused)
    print(
        f"editeval: {len(items)} python items, {len(parsed)} parse, {accepted} accepted, {exact} exact "
        f"({with_markers} with markers), refused by the deletion rule: {refused}"
    )
    assert exact == accepted
    assert accepted >= 0.95 * len(items)
    assert with_markers >= 0.25 * accepted
