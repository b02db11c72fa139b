"""``specedit models``: what models are on disk, and ``--fetch`` to get the builtin one ahead of time.

``--fetch`` lets CI and first-time users pay the one-off download and dequantization before opening
the TUI. Listing reads only file headers, so it never imports torch.
"""

from __future__ import annotations

import argparse
import sys

_MB = 1_000_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the builtin and cached models (size, state, location)",
        description="List the builtin model and every model converted into the cache. Other local folders "
        "and hub ids work with --model too; they are not copied into the cache.",
    )
    p.add_argument(
        "--fetch",
        action="store_true",
        help="fetch and convert the builtin model now (one-off: about 93 MB and 30 s), then list",
    )


def run(args: argparse.Namespace) -> int:
    from app.progress import StderrProgress
    from decoding.models.store import ModelError, cache_dir, ensure_builtin, list_models

    if args.fetch:
        progress = StderrProgress()
        try:
            ensure_builtin(progress)
        except ModelError as exc:
            progress.finish()
            print(f"specedit: {exc}", file=sys.stderr)
            return 1
        progress.finish()
    rows = [
        (
            info.name,
            info.kind,
            _megabytes(info.size) if info.size else "-",
            "ready" if info.ready else "not fetched" if info.kind == "builtin" else "damaged",
            str(info.path),
        )
        for info in list_models()
    ]
    print(_table(("NAME", "KIND", "SIZE", "STATE", "PATH"), rows))
    if rows[0][3] != "ready":
        print("\nThe builtin model is fetched on first use, or now with `specedit models --fetch`.")
    print(f"\nCache: {cache_dir()} (set XDG_CACHE_HOME to move it)")
    return 0


def _megabytes(size: int) -> str:
    return f"{size / _MB:.1f} MB" if size < 10 * _MB else f"{size / _MB:,.0f} MB"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Plain aligned columns: stays readable when piped, in CI logs, and in the README."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )
