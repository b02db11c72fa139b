"""``specedit tune``: LoRA fine-tuning of the draft on the accepted-edit log.

The tuned draft raises acceptance (hence speed) on the kind of edits this user makes; the target is
never changed, so outputs stay identical. The app picks the adapter up automatically next start, on
either engine: a GGUF draft's adapter is also written for llama.cpp (``adapter.gguf``).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from app.options import add_model_options
from app.run_options import RunOptions, options_from_args
from common.errors import UsageError

if TYPE_CHECKING:
    from decoding.personal.log import EditRecord
    from decoding.personal.tune import ProgressFn, TuneConfig, TuneResult


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune",
        help="fine-tune the draft model on your accepted edits (LoRA)",
        description="LoRA fine-tune the draft on the accepted-edit log; the app then uses it automatically. "
        "A separate draft (e.g. qwen-coder-0.5b, the default pair's) loads alone in torch, without the "
        "target; a GGUF draft's adapter is exported for llama.cpp too.",
    )
    p.add_argument("--steps", type=int, default=80, help="optimizer steps, one example each (default: 80)")
    p.add_argument("--lora-r", dest="lora_r", type=int, default=8, help="LoRA rank (default: 8)")
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default: 2e-3 for the early-exit draft, 2e-4 for a separate draft)",
    )
    p.add_argument(
        "--max-tokens",
        dest="max_tokens",
        type=int,
        default=2048,
        help="longest training example in tokens (default: 2048)",
    )
    p.add_argument(
        "--early-exit-layers",
        dest="early_exit_layers",
        type=int,
        default=None,
        help="layers of the self-speculative draft (default: the engine's)",
    )
    p.add_argument(
        "--log",
        type=Path,
        default=None,
        help="edit log (default: .git/specedit/edits.jsonl of the current repository)",
    )
    p.add_argument("--clear-log", dest="clear_log", action="store_true", help="delete the edit log and exit")
    p.add_argument("--reset", action="store_true", help="delete the tuned adapter (back to the plain draft)")
    add_model_options(p, backend=False)


def run(args: argparse.Namespace) -> int:
    from decoding.personal.log import EditLog, default_log_path

    log = EditLog(args.log or default_log_path(Path.cwd()))
    if args.clear_log:
        print(f"cleared {log.path}" if log.clear() else f"no edit log at {log.path}")
        return 0
    options = options_from_args(args)
    if args.reset:
        return _reset(options)
    records = log.records()
    if not records:
        raise UsageError(f"no accepted edits in {log.path}", hint="accept some edits first, then tune")
    return _tune(args, options, records)


def _reset(options: RunOptions) -> int:
    from decoding.models.catalog import default_draft
    from decoding.models.load import resolve_model
    from decoding.personal.tune import find_adapter

    target = resolve_model(options.model).name
    draft_spec = default_draft(options.model, options.draft)
    draft = resolve_model(draft_spec).name if draft_spec else None
    found = find_adapter(target, draft)
    if found is None:
        print(f"no tuned adapter for {draft or target}")
        return 0
    shutil.rmtree(found)
    print(f"removed {found}")
    return 0


def _tune(args: argparse.Namespace, options: RunOptions, records: list[EditRecord]) -> int:
    """Train the draft's LoRA: a separate draft loads alone; a self-speculative one needs the target,
    in full precision unless --load-in-4bit says otherwise."""
    from decoding.models.catalog import default_draft
    from decoding.personal.tune import METADATA_NAME, TuneConfig

    try:
        config = TuneConfig(steps=args.steps, lora_r=args.lora_r, lr=args.lr, max_tokens=args.max_tokens)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    every = max(1, config.steps // 20)

    def progress(step: int, steps: int, loss: float) -> None:
        if step % every == 0 or step == steps:
            print(f"step {step}/{steps} · loss {loss:.3f}", flush=True)

    draft = default_draft(options.model, options.draft)
    try:
        result = (
            _tune_self(args, options, records, config, progress)
            if draft is None
            else _tune_separate(options, draft, records, config, progress)
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    change = f"{result.agreement_before:.1%} -> {result.agreement_after:.1%}"
    if not result.saved:
        kept = (
            "the previous tuned draft"
            if (result.adapter_dir / METADATA_NAME).is_file()
            else "the plain draft"
        )
        print(
            f"not saved: the tuned draft agreed less with {result.held_out} edits it did not train on "
            f"({change}); {kept} stays in use. Try a lower --lr, or tune again after more edits."
        )
        return 0
    measured = (
        f"{result.held_out} held-out edits" if result.held_out else "the log (too few edits to hold any out)"
    )
    print(f"saved {result.adapter_dir} ({result.examples} examples; draft agreement on {measured} {change})")
    return 0


def _report(message: str, _fraction: float | None) -> None:
    print(message, flush=True)


def _tune_self(
    args: argparse.Namespace,
    options: RunOptions,
    records: list[EditRecord],
    config: TuneConfig,
    progress: ProgressFn,
) -> TuneResult:
    """The self-speculative draft is a copy of the target's first layers: the target loads in torch."""
    from app.backends import load_models_for
    from decoding.personal.tune import tune_models

    # LoRA training needs torch weights
    models = load_models_for(options, _report, load_in_4bit=bool(options.load_in_4bit), engine="torch")
    print(f"tuning the draft on {len(records)} accepted edits ({models.device})", flush=True)
    return tune_models(models, records, config, k=args.early_exit_layers, progress=progress)


def _tune_separate(
    options: RunOptions, draft: str, records: list[EditRecord], config: TuneConfig, progress: ProgressFn
) -> TuneResult:
    """Only the draft loads (in torch); a GGUF draft also gets the adapter exported for llama.cpp."""
    from decoding.models.load import load_draft_for_tuning
    from decoding.personal.tune import adapter_dir_for, tune_draft

    loaded = load_draft_for_tuning(options.model, draft, options.device, options.dtype, _report)
    print(
        f"tuning the draft {loaded.draft_name} on {len(records)} accepted edits ({loaded.device})", flush=True
    )
    result = tune_draft(
        loaded.model,
        loaded.tokenizer,
        records,
        config,
        base_model=loaded.target_name,
        draft_label=loaded.draft_name,
        adapter_dir=adapter_dir_for(loaded.target_name, loaded.draft_name),
        gguf_base=loaded.gguf,
        progress=progress,
    )
    if loaded.gguf is not None:
        print("exported the adapter for llama.cpp too (adapter.gguf)", flush=True)
    return result
