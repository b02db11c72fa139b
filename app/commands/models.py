"""``specedit models``: what models are on disk, and ``--fetch`` to get the builtin one ahead of time.

``--fetch`` lets CI and first-time users pay the one-off download and dequantization before opening
the TUI. Listing reads only file headers, so it never imports torch.
"""

from __future__ import annotations

import argparse

_MB = 1_000_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the builtin and cached models (size, licence, memory, provenance, state)",
        description="List the builtin models (with licence, memory need and where their weights come "
        "from) and every model converted into the cache. Other local folders and hub ids work with "
        "--model too; they are not copied into the cache.",
    )
    p.add_argument(
        "--fetch",
        nargs="?",
        const="smollm2",
        metavar="ALIAS",
        help="fetch and convert a builtin model now, with its default draft (one-off; smollm2 if no "
        "alias: 93 MB and 30 s; qwen-coder-1.5b: 1.6 GB and a few minutes), then list",
    )


def run(args: argparse.Namespace) -> int:
    from app.progress import StderrProgress
    from common.paths import cache_dir, models_dir
    from decoding.models.builtin import builtin_row, ensure_builtin_model
    from decoding.models.catalog import BUILTINS
    from decoding.models.store import list_models

    if args.fetch:
        progress = StderrProgress()
        try:
            for alias in _with_draft(args.fetch):
                ensure_builtin_model(alias, progress)  # a failure raises ModelError: exit 5 with the reason
        finally:
            progress.finish()
    builtin_paths = {models_dir() / model.name for model in BUILTINS}
    infos = [builtin_row(model) for model in BUILTINS]
    infos += [info for info in list_models() if info.path not in builtin_paths]
    rows = [
        (
            info.name,
            info.kind,
            _megabytes(info.size) if info.size else "-",
            "ready" if info.ready else "not fetched" if info.kind == "builtin" else "damaged",
            str(info.path),
        )
        for info in infos
    ]
    print(_table(("NAME", "KIND", "SIZE", "STATE", "PATH"), rows))
    print("\nBuiltin models (--model ALIAS; fetched on first use or by `specedit models --fetch ALIAS`;")
    print("MEMORY is what loading needs in float32 on CPU, checked before loading):")
    details = [
        (
            model.name,
            f"{model.parameters / 1e9:.2f} B",
            _megabytes(model.download_bytes),
            f"{model.memory_bytes() / 1e9:.1f} GB",
            model.licence,
            f"draft {model.default_draft}" if model.default_draft else "",
        )
        for model in BUILTINS
    ]
    print(_table(("ALIAS", "PARAMS", "DOWNLOAD", "MEMORY", "LICENCE", "DEFAULTS"), details))
    for model in BUILTINS:
        print(f"  {model.name}: {model.title}; from {model.provenance}")
    print(f"\nCache: {cache_dir()} (set XDG_CACHE_HOME to move it)")
    return 0


def _with_draft(alias: str) -> list[str]:
    """The alias and the draft it loads by default: fetching ahead of time should cover both."""
    from decoding.models.builtin import builtin_model

    draft = builtin_model(alias).default_draft
    return [alias] if draft is None else [alias, draft]


def _megabytes(size: int) -> str:
    return f"{size / _MB:.1f} MB" if size < 10 * _MB else f"{size / _MB:,.0f} MB"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Plain aligned columns: stays readable when piped, in CI logs, and in the README."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )
