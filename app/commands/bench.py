"""``specedit bench``: every decoding method side by side on an edit dataset."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

from app.options import add_budget_option, add_model_options
from app.run_options import RunOptions, options_from_args
from common.errors import BackendFailure, UsageError
from common.redact import redact_url
from decoding.engine.config import METHODS

DEFAULT_METHODS = "regular,lookup,draft,multilayer,hf-pld,hf-assisted"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark decoding methods side by side (speed, losslessness, acceptance)",
        description="Runs every item with every method in one process, interleaved per item, after a "
        "warm-up item. Each method's tokens are compared with plain greedy decoding (`regular`). "
        "With --backend openai --base-url [LABEL=]URL[,...] every server (llama.cpp, vLLM) also "
        "answers each item with the engine's own prompt via /v1/completions, next to --methods; "
        "server answers are checked against the first server's (see docs/serving.md).",
    )
    p.add_argument("--dataset", required=True, type=Path, help="JSONL with id, before, instruction[, after]")
    p.add_argument("--limit", type=int, default=None, help="first N items only")
    p.add_argument(
        "--min-chars",
        type=int,
        default=0,
        metavar="N",
        help="only items whose file has at least N characters (the long files)",
    )
    p.add_argument("--methods", default=DEFAULT_METHODS, help=f"comma list (default: {DEFAULT_METHODS})")
    add_budget_option(p)
    p.add_argument(
        "--grid",
        nargs="+",
        default=[],
        metavar="NAME=V1,V2",
        help="tuning mode: also run --grid-method for every combination, e.g. "
        "--grid micro_draft_tokens=20,40,80 max_num_run=1,2,4 (values are integers; 0/1 for on/off)",
    )
    p.add_argument(
        "--grid-method",
        default="multilayer",
        choices=[m for m in METHODS if m != "regular"],
        help="the method --grid varies (default: multilayer)",
    )
    p.add_argument(
        "--compare-formats",
        action="store_true",
        help="instead of methods: whole-file vs lazy answers (tokens, time, merges) with multilayer",
    )
    p.add_argument(
        "--draft-adapter",
        type=Path,
        default=None,
        help="LoRA adapter from `specedit tune` for the draft (bench never picks one up on its own)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="also run each item's `tests` against each method's answer (a subprocess per answer, time "
        "limit, no network) and report pass rate and how the proposal check's flags match the tests",
    )
    p.add_argument("--no-warmup", action="store_true", help="skip the warm-up item")
    p.add_argument("--json", type=Path, default=None, help="write every run and the summary here")
    p.add_argument("--markdown", type=Path, default=None, help="the summary tables as Markdown")
    p.add_argument("--plot", type=Path, default=None, help="PNG of chars/s vs edit ratio per method")
    add_model_options(p, method=False)


def _machine() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v * 100:.0f}%" if pct else f"{v:.2f}"


def _table(title: str, rows: list[Any], baseline: Any) -> Any:
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=title)
    for col in (
        "method",
        "n",
        "identical",
        "mean c/s",
        "P50 c/s",
        "P90 c/s",
        "tok/s",
        "tok/fwd",
        "x regular",
        "x best single",
        "lookup acc",
        "draft acc",
        "1st tok s",
        "decode tok/s",
        "in fwd",
    ):
        t.add_column(col, justify="left" if col == "method" else "right")
    for r in rows:
        vs_best = r.mean_cps / baseline.mean_cps if baseline and baseline.mean_cps else None
        t.add_row(
            escape(r.label),
            str(r.n),
            f"{r.identical}/{r.n}",
            f"{r.mean_cps:.1f}",
            f"{r.p50_cps:.1f}",
            f"{r.p90_cps:.1f}",
            f"{r.mean_tps:.1f}",
            f"{r.tokens_per_forward:.2f}",
            f"{r.speedup_vs_regular:.2f}x",
            _fmt(vs_best) + "x" if vs_best else "-",
            _fmt(r.lookup_acc, True),
            _fmt(r.draft_acc, True),
            f"{r.first_token_s:.1f}",
            f"{r.decode_tps:.1f}",
            _fmt(r.forward_share, True),
        )
    return t


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _report_formats(runs: list[Any], args: argparse.Namespace, model: str) -> int:
    from rich.console import Console
    from rich.table import Table

    from decoding.bench import report

    summary = report.summarize_formats(runs)
    t = Table(title=f"whole vs lazy answers — {model} · multilayer · {args.dataset.name}")
    for col in ("format", "items", "mean new tokens", "mean seconds", "usable proposals"):
        t.add_column(col, justify="left" if col == "format" else "right")
    for fmt, s in summary.items():
        t.add_row(
            fmt,
            str(int(s["items"])),
            f"{s['mean_tokens']:.1f}",
            f"{s['mean_seconds']:.2f}",
            f"{int(s['merged'])}/{int(s['items'])}",
        )
    Console(width=None if sys.stdout.isatty() else 200).print(t)
    if args.json:
        _write(
            args.json,
            json.dumps(
                {
                    "machine": _machine(),
                    "model": model,
                    "summary": summary,
                    "runs": [r.__dict__ for r in runs],
                },
                indent=1,
            ),
        )
    return 0


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app.backends import load_models_for
    from app.progress import StderrProgress
    from decoding.backends.local import LocalBackend
    from decoding.bench import report
    from decoding.bench import runner as bench
    from decoding.engine.config import SpecConfig

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(bench.ALL_METHODS))
    if unknown:
        raise UsageError(f"unknown method(s) {unknown}; choose from {list(bench.ALL_METHODS)}")
    options = options_from_args(args)
    servers = _servers(options, args.compare_formats)
    try:
        items = bench.load_dataset(args.dataset, args.limit, args.min_chars)
        grid = bench.parse_grid(args.grid, args.grid_method)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if not items:
        raise UsageError(f"the dataset {args.dataset} has no items")
    # transformers' generate() baselines need torch weights: with them, `auto` means torch for everyone.
    baselines = [m for m in methods if m in bench.HF_METHODS]
    if baselines and options.engine == "llamacpp":
        raise UsageError(
            f"{', '.join(baselines)} run transformers' generate(): drop them or use --engine torch"
        )
    models = load_models_for(options, StderrProgress(), engine="torch" if baselines else None)
    if args.draft_adapter is not None:
        from decoding.personal.tune import use_tuned_draft

        if not use_tuned_draft(models, args.draft_adapter):
            raise UsageError(f"cannot use the draft adapter {args.draft_adapter}")
    backend = LocalBackend(models, SpecConfig(), options.max_new_tokens)
    runner = bench.Runner(backend)
    if args.check and (servers or args.compare_formats):
        raise UsageError("--check tests the local engine's methods only")
    from decoding.bench.quality import QualityChecker, markdown_table

    checker = QualityChecker(models.tokenizer) if args.check else None
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("warm-up", total=None)

        def on_progress(done: int, total: int, what: str) -> None:
            progress.update(task, completed=done, total=total, description=what)

        agreement: dict[str, Any] = {}
        if args.compare_formats:
            format_runs = bench.compare_formats(backend, items, on_progress)
        elif servers:
            from decoding.bench import remote

            try:
                runs, agreement = remote.run_side_by_side(
                    runner,
                    remote.RemoteRunner(backend),
                    servers,
                    items,
                    methods,
                    grid,
                    warmup=not args.no_warmup,
                    on_progress=on_progress,
                )
            except remote.RemoteError as exc:
                raise BackendFailure(str(exc)) from None
        else:
            runs = bench.run_bench(
                runner,
                items,
                methods,
                grid,
                warmup=not args.no_warmup,
                on_progress=on_progress,
                on_answer=checker.on_answer if checker else None,
            )
        quality = checker.run_all(on_progress) if checker else []
    if args.compare_formats:
        return _report_formats(format_runs, args, models.describe())

    from rich.markup import escape

    out = Console(width=None if sys.stdout.isatty() else 200)  # full tables in logs and files
    rows = report.summarize(runs)
    base = report.best_baseline(rows)
    title = f"{models.describe()} · {args.dataset.name} · {len(items)} items"
    out.print(_table(f"all items — {title}", rows, base))
    for name, brows in report.iter_buckets(runs):
        out.print(_table(f"edit ratio {name}", brows, report.best_baseline(brows)))
    if grid:
        tuned = [r for r in rows if r.label.startswith(f"{args.grid_method}[")]
        best = max(tuned, key=lambda r: r.mean_cps)
        out.print(
            f"best config: {escape(best.label)} "
            f"({best.mean_cps:.1f} chars/s, {best.speedup_vs_regular:.2f}x regular)"
        )
    not_identical = [r for r in runs if not r.identical]
    for r in not_identical:
        out.print(
            f"[red]NOT IDENTICAL[/red] {escape(r.item_id)} {escape(report.label(r))}: "
            f"first differing token {r.first_diff}"
        )
    for name, tally in agreement.items():
        out.print(f"{escape(name)}: same text as our regular on {tally.same}/{tally.items} items")
    if quality:
        out.print(escape(f"tests passed (bench --check):\n{markdown_table(quality)}"))
    if args.json or args.markdown:
        payload = {
            "machine": _machine(),
            "model": models.describe(),
            "dataset": str(args.dataset),
            "items": len(items),
            "summary": [r.__dict__ for r in rows],
            "buckets": {name: [r.__dict__ for r in brows] for name, brows in report.iter_buckets(runs)},
            "runs": [r.to_json() for r in runs],
            "servers": {
                s.label: s.__dict__ | {"api_key": None, "base_url": redact_url(s.base_url)} for s in servers
            },
            "same_as_regular": {name: tally.__dict__ for name, tally in agreement.items()},
            "quality": [q.__dict__ | {"pass_rate": q.pass_rate} for q in quality],
            "quality_runs": [r.__dict__ for r in checker.results] if checker else [],
        }
        if args.json:
            _write(args.json, json.dumps(payload, indent=1))
        if args.markdown:
            _write(
                args.markdown, report.markdown_tables(payload) + (markdown_table(quality) if quality else "")
            )
    if args.plot:
        report.plot(runs, args.plot, title)
    # Only our engine promises token-identical output; a server's mismatches are reported, not failed.
    return 1 if any(r.method in bench.ALL_METHODS for r in not_identical) else 0


def _servers(options: RunOptions, compare_formats: bool) -> list[Any]:
    """The servers of ``--backend openai --base-url [LABEL=]URL[,...]``, each asked for its model."""
    if options.backend == "local":
        return []
    if compare_formats:
        raise UsageError("--compare-formats runs the local engine only")
    from decoding.bench import remote

    if not options.base_url:
        raise UsageError("bench --backend openai needs --base-url [LABEL=]URL[,[LABEL=]URL...]")
    try:
        return remote.connect_all(options.base_url, options.api_key)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except remote.RemoteError as exc:
        raise BackendFailure(str(exc)) from None
