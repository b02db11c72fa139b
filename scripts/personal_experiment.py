"""Personalisation on the real draft (issue #16, point 4): tune Qwen2.5-Coder-0.5B on the 1.5B's answers.

Split as in the smollm2 experiment (docs/benchmarks.md): EditEval items whose ``before`` and ``after``
are at most 500 characters; even positions (first 40) are the accepted-edit log, odd positions (first
24) are held apart. The log's answers are what the target really generates for those items (llama.cpp,
greedy; prompt lookup is lossless, so it only saves time), as ``.git/specedit/edits.jsonl`` would hold
them (an answer cut by the token budget is never applied, so it is left out). Then the draft is tuned
with the code behind ``specedit tune`` (only the draft loads in torch; the adapter is exported for
llama.cpp) and the llama.cpp draft's teacher-forced agreement with the target's greedy answers on the
held-apart items is measured before and after: along the target's own
greedy output its prediction IS the next token, so no target forward is needed.

    python scripts/personal_experiment.py --out /tmp/personal   # then the two bench runs it prints

Target answers are cached in ``OUT/answers.json`` (minutes to generate), so a rerun only re-tunes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from decoding.backends.local import LocalBackend
from decoding.engine.config import SpecConfig
from decoding.events import Done
from decoding.models.llamacpp import LlamaCppModel
from decoding.models.load import load_draft_for_tuning, load_models
from decoding.personal.gguf_adapter import ADAPTER_GGUF
from decoding.personal.log import EditLog, EditRecord
from decoding.personal.tune import TuneConfig, tune_draft
from decoding.request import EditRequest

TARGET, DRAFT = "qwen-coder-1.5b", "qwen-coder-0.5b"
DATA = Path("/work/shared/data/editeval.jsonl")


def split(path: Path, log_items: int, held_items: int) -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    small = [r for r in rows if r.get("after") and len(r["before"]) <= 500 and len(r["after"]) <= 500]
    return small[0::2][:log_items], small[1::2][:held_items]


def request_of(row: dict) -> EditRequest:
    return EditRequest(path="file.py", original=row["before"], instruction=row["instruction"])


def target_answers(rows: list[dict], cache: Path) -> dict[str, dict]:
    """The target's greedy answer (text and token ids) per item id, generated once and cached."""
    answers: dict[str, dict] = json.loads(cache.read_text()) if cache.is_file() else {}
    missing = [r for r in rows if r["id"] not in answers]
    if not missing:
        return answers
    models = load_models(TARGET, draft="none", engine="llamacpp")
    backend = LocalBackend(models, SpecConfig(method="lookup"))
    for n, row in enumerate(missing, 1):
        start = time.perf_counter()
        done = [e for e in backend.stream(request_of(row)) if isinstance(e, Done)][-1]
        prompt_ids, _ = backend.encode(request_of(row))
        answers[row["id"]] = {
            "raw": done.text,
            "prompt_ids": prompt_ids,
            "token_ids": list(done.token_ids),
            "stop": done.stop_reason,
        }
        print(
            f"target {n}/{len(missing)} {row['id']}: {len(done.token_ids)} tokens, "
            f"{time.perf_counter() - start:.1f} s, {done.stop_reason}",
            flush=True,
        )
        cache.write_text(json.dumps(answers))
    models.target.close()
    return answers


def agreement(draft: LlamaCppModel, answers: list[dict]) -> tuple[float, int]:
    """Teacher-forced: the draft's argmax at every position of the target's greedy answer."""
    same = total = 0
    for answer in answers:
        out = answer["token_ids"]
        draft.rollback(0)
        logits = draft.forward(answer["prompt_ids"] + out[:-1], keep=len(out)).numpy()
        same += int((logits.argmax(-1) == np.asarray(out)).sum())
        total += len(out)
    draft.rollback(0)
    return same / total, total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for answers, log, adapter, results")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=None, help="default: the separate draft's (tune.py)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    log_rows, held_rows = split(DATA, 40, 24)
    answers = target_answers(log_rows + held_rows, args.out / "answers.json")
    (args.out / "heldout.jsonl").write_text("".join(json.dumps(r) + "\n" for r in held_rows))
    edit_log = EditLog(args.out / "edits.jsonl")
    edit_log.clear()
    for row in log_rows:
        answer = answers[row["id"]]
        if answer["stop"] != "max_new_tokens":  # a budget-cut answer is never applied, hence never logged
            edit_log.append(
                EditRecord.create(request_of(row), answer["raw"], answer["raw"], "lookup", TARGET)
            )

    from decoding.models.builtin import builtin_gguf

    draft = LlamaCppModel(builtin_gguf(DRAFT), context=4096, target=False)
    held = [answers[r["id"]] for r in held_rows]
    before, tokens = agreement(draft, held)
    print(f"held-apart agreement before: {before:.1%} of {tokens} tokens", flush=True)

    loaded = load_draft_for_tuning(TARGET, DRAFT, "cpu", "auto", lambda m, _f: print(m, flush=True))
    config = TuneConfig(steps=args.steps, max_tokens=args.max_tokens, lr=args.lr)
    start = time.perf_counter()
    result = tune_draft(
        loaded.model,
        loaded.tokenizer,
        edit_log.records(),
        config,
        base_model=TARGET,
        draft_label=DRAFT,
        adapter_dir=args.out / "adapter",
        gguf_base=loaded.gguf,
        progress=lambda s, n, loss: print(f"step {s}/{n} loss {loss:.3f}", flush=True),
    )
    seconds = time.perf_counter() - start
    after = None
    if result.saved:
        draft.use_adapter(result.adapter_dir / ADAPTER_GGUF)
        after, _ = agreement(draft, held)
        print(f"held-apart agreement after: {after:.1%}", flush=True)
    else:
        print("tune kept no adapter: the draft agreed less with the log's own held-out edits", flush=True)
    summary = {
        "target": TARGET,
        "draft": DRAFT,
        "log_items": len(edit_log.records()),
        "held_items": len(held_rows),
        "held_tokens": tokens,
        "agreement_before": before,
        "agreement_after": after,
        "saved": result.saved,
        "log_held_out": result.held_out,  # the log's edits tune_draft kept out of training to check on
        "log_agreement_before": result.agreement_before,
        "log_agreement_after": result.agreement_after,
        "examples": result.examples,
        "tune_seconds": round(seconds, 1),
        "steps": config.steps,
        "lora_r": config.lora_r,
        "lr": config.for_draft(self_draft=False).lr,
        "max_tokens": config.max_tokens,
        "answers_cut_by_budget": sum(a["stop"] == "max_new_tokens" for a in answers.values()),
    }
    (args.out / "agreement.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    bench = (
        f"specedit bench --model {TARGET} --dataset {args.out / 'heldout.jsonl'} --limit 8 "
        "--methods regular,lookup,draft,multilayer"
    )
    print(f"next:\n  {bench} --json BEFORE.json")
    print(f"  {bench} --draft-adapter {result.adapter_dir} --json AFTER.json")


if __name__ == "__main__":
    main()
