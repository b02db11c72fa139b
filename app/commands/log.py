"""``specedit log [PATH] [-n N]``: the specedit edits in the current history, newest first."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.options import positive_int

_INSTRUCTION_WIDTH = 48


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "log", help="list specedit edits (hash, time, instruction, model, method, engine, speed)"
    )
    p.add_argument("path", nargs="?", default=".", help="a file or folder inside the repository (default: .)")
    p.add_argument("-n", "--limit", type=positive_int, default=50, help="show at most N edits (default: 50)")


def run(args: argparse.Namespace) -> int:
    from vcs.repo import EditRepo  # GitPython is imported only when a command needs it

    with EditRepo.open(Path(args.path)) as repo:
        records = repo.log(args.limit)
    if not records:
        print("no specedit edits in this history yet")
        return 0
    rows = [("hash", "time", "instruction", "model", "method", "engine", "chars/s", "tok/s", "speed-up")]
    for record in records:
        meta = record.meta
        rows.append(
            (
                record.short_sha,
                record.time.strftime("%Y-%m-%d %H:%M"),
                _clip(record.instruction, _INSTRUCTION_WIDTH),
                meta.model,
                meta.method,
                meta.engine,
                f"{meta.chars_per_s:.1f}",
                f"{meta.tokens_per_s:.1f}",
                f"{meta.speedup:.2f}x" if meta.speedup is not None else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
