"""Held-out check of the lazy merge on real edits: ``python -m decoding.lazy.heldout DATA.jsonl ...``.

The round-trip tests build the answers a careful model writes. Small models are sloppier: they show
each changed top-level block whole and replace every run of unchanged blocks by one marker line, with
no blank lines around it, and they do not mark deletions. This builds such answers from real
(before, after) pairs and counts how often the merge gives ``after`` back, so merge changes are
judged on edits nobody tuned the merge for.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

from decoding.lazy.blocks import MergeRefused, first_error_row, normalize, parse, top_blocks
from decoding.lazy.merge import merge_lazy
from decoding.prompts import comment_marker


def sloppy_answer(before: str, after: str, language: str) -> str | None:
    """The answer described above, or None when ``before`` or ``after`` does not parse."""
    b, f = parse(before, language, answer=False), parse(after, language, answer=False)
    if first_error_row(b) is not None or first_error_row(f) is not None:
        return None
    bb, fb = top_blocks(b), top_blocks(f)
    if not fb:
        return None
    matcher = SequenceMatcher(
        None,
        [b.row_text(x.first, x.last) for x in bb],
        [f.row_text(x.first, x.last) for x in fb],
        autojunk=False,
    )
    same = {j for tag, _, _, j1, j2 in matcher.get_opcodes() if tag == "equal" for j in range(j1, j2)}
    marker = comment_marker(language) + "\n"
    out = [] if 0 in same else f.lines[: fb[0].first]
    for j, block in enumerate(fb):
        if j in same:
            if j == 0 or j - 1 not in same:
                out.append(marker)
            continue
        if j and j - 1 not in same:
            out += f.lines[fb[j - 1].last + 1 : block.first]
        out += f.lines[block.first : block.last + 1]
    if len(fb) - 1 not in same:
        out += f.lines[fb[-1].last + 1 :]
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def normalized(text: str) -> str:
    """Trailing spaces and runs of blank lines do not count: the issue's notion of "gave back after"."""
    lines = [line.rstrip() for line in text.strip("\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _without_deleted_blocks(merged: str, before: str, after: str, language: str) -> str:
    """``merged`` less the top-level blocks of ``before`` that ``after`` deleted: what is left when
    the only difference is code a marker spanned (the answer gave no sign that it was deleted)."""
    texts = {}
    for text in (before, after):
        source = parse(text, language, answer=False)
        texts[text] = {normalize(source.row_text(b.first, b.last)) for b in top_blocks(source)}
    gone = texts[before] - texts[after]
    source = parse(merged, language, answer=False)
    drop = {
        row
        for b in top_blocks(source)
        if normalize(source.row_text(b.first, b.last)) in gone
        for row in range(b.first, b.last + 1)
    }
    return "".join(line for row, line in enumerate(source.lines) if row not in drop)


@dataclass(frozen=True)
class Outcome:
    id: str
    result: str  # exact | same-normalized | blank-lines | kept-deleted | different | refused
    notes: tuple[str, ...] = ()
    detail: str = ""


def judge(row: dict, language: str = "python") -> Outcome | None:
    """One item's outcome, or None when it yields no lazy answer (does not parse, or nothing unchanged)."""
    answer = sloppy_answer(row["before"], row["after"], language)
    if answer is None or comment_marker(language) not in answer:
        return None
    try:
        merged = merge_lazy(row["before"], answer, language)
    except MergeRefused as refused:
        return Outcome(row["id"], "refused", detail=refused.reason)
    want = row["after"]
    if merged.text.rstrip("\n") == want.rstrip("\n"):
        result = "exact"
    elif normalized(merged.text) == normalized(want):
        result = "same-normalized"
    elif [s for s in merged.text.split("\n") if s.strip()] == [s for s in want.split("\n") if s.strip()]:
        result = "blank-lines"
    elif normalized(_without_deleted_blocks(merged.text, row["before"], want, language)) == normalized(want):
        result = "kept-deleted"
    else:
        result = "different"
    return Outcome(row["id"], result, merged.notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m decoding.lazy.heldout",
        description="Build sloppy lazy answers (changed top-level blocks whole, one marker per run of "
        "unchanged blocks, no blank lines around markers) from the Python items of JSONL files of "
        "{id, lang, before, after} and count how many merge back to `after`. "
        "`exact` ignores only the final newline; `same-normalized` also trailing spaces and runs of blank "
        "lines; `blank-lines` differ in blank lines alone; `kept-deleted` only keep blocks that `after` "
        "deleted but a marker spanned (the answer gave no sign of the deletion).",
    )
    parser.add_argument("datasets", nargs="+", type=Path, help="JSONL files (e.g. ../shared/data/*.jsonl)")
    parser.add_argument("--show", action="store_true", help="list the items that are not exact, with why")
    args = parser.parse_args(argv)
    for path in args.datasets:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        outcomes = [o for r in rows if r["lang"] == "python" for o in [judge(r)] if o is not None]
        counts = Counter(o.result for o in outcomes)
        noted = Counter(o.result for o in outcomes if o.notes)
        kinds = ("exact", "same-normalized", "blank-lines", "kept-deleted", "different", "refused")
        summary = ", ".join(f"{k} {counts[k]}" for k in kinds)
        notes = ", ".join(f"{k} {noted[k]}" for k in kinds if noted[k]) or "none"
        print(f"{path.name}: {len(outcomes)} lazy answers: {summary}; with notes: {notes}")
        if args.show:
            for o in outcomes:
                if o.result != "exact" or o.notes:
                    print(f"  {o.id}: {o.result} {o.detail} {' | '.join(o.notes)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
