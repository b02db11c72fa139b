"""Side-by-side benchmark of the decoding methods on an edit dataset.

Every item runs with every method in the same process, interleaved per item, so drift on a noisy
machine hits all methods alike. ``regular`` always runs first on an item: it is the reference every
other method's tokens are compared with (losslessness is checked on every run, not assumed).
"""

from __future__ import annotations

import difflib
import itertools
import json
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from decoding.backends.local import LocalBackend
from decoding.engine.config import SpecConfig
from decoding.events import Done, Error
from decoding.request import EditRequest

ENGINE_METHODS = ("regular", "lookup", "draft", "multilayer")
HF_METHODS = ("hf-pld", "hf-assisted")
ALL_METHODS = ENGINE_METHODS + HF_METHODS
BUCKETS = ((0.0, 0.1), (0.1, 0.3), (0.3, 0.5), (0.5, 1.01))


@dataclass(frozen=True)
class BenchItem:
    id: str
    path: str
    before: str
    instruction: str
    edit_ratio: float | None


@dataclass
class MethodRun:
    item_id: str
    method: str
    identical: bool
    first_diff: int | None  # index of the first token that differs from `regular`
    new_tokens: int
    chars: int
    seconds: float
    target_forwards: int
    draft_forwards: int
    acceptance: dict[str, float | None] = field(default_factory=dict)
    edit_ratio: float | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def chars_per_s(self) -> float:
        return self.chars / self.seconds if self.seconds > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def tokens_per_forward(self) -> float:
        return self.new_tokens / self.target_forwards if self.target_forwards else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {
            "chars_per_s": self.chars_per_s,
            "tokens_per_s": self.tokens_per_s,
            "tokens_per_forward": self.tokens_per_forward,
        }


_EXT = {"python": ".py", "java": ".java", "c": ".c", "cpp": ".cpp", "javascript": ".js", "go": ".go"}


def load_dataset(path: Path, limit: int | None = None) -> list[BenchItem]:
    """Read JSONL items (``id``, ``before``, ``instruction``; ``after``/``edit_ratio`` optional)."""
    items: list[BenchItem] = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                before, instruction = row["before"], row["instruction"]
            except (json.JSONDecodeError, KeyError) as exc:
                raise ValueError(f"{path}:{n}: not a bench item ({exc})") from exc
            ratio = row.get("edit_ratio")
            if ratio is None and row.get("after") is not None:
                ratio = 1 - difflib.SequenceMatcher(None, before, row["after"]).ratio()
            ext = _EXT.get(str(row.get("lang", "python")).lower(), ".txt")
            items.append(BenchItem(str(row.get("id", n)), f"file{ext}", before, instruction, ratio))
            if limit is not None and len(items) >= limit:
                break
    return items


def parse_grid(specs: Sequence[str]) -> list[dict[str, int]]:
    """``["micro_draft_tokens=20,40", "max_num_run=1,4"]`` -> every combination as a dict."""
    if not specs:
        return []
    axes: list[tuple[str, list[int]]] = []
    known = set(SpecConfig.__dataclass_fields__)
    for spec in specs:
        name, _, values = spec.partition("=")
        if name not in known or not values:
            raise ValueError(f"bad --grid entry {spec!r}: use NAME=V1,V2 with NAME one of {sorted(known)}")
        axes.append((name, [int(v) for v in values.split(",")]))
    return [
        dict(zip([a for a, _ in axes], combo, strict=True))
        for combo in itertools.product(*[v for _, v in axes])
    ]


class Runner:
    """Runs one method on one item and measures it; owns nothing but the loaded backend."""

    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend

    def run(
        self, item: BenchItem, method: str, overrides: dict[str, int] | None = None
    ) -> tuple[list[int], MethodRun]:
        request = EditRequest(path=item.path, original=item.before, instruction=item.instruction)
        prompt_ids, original_ids = self.backend.encode(request)
        if method in HF_METHODS:
            config = self.backend.config_for(request, original_ids)
            return self._run_hf(item, method, prompt_ids, config)
        config = self.backend.config_for(request, original_ids, method=method, **(overrides or {}))
        start = time.perf_counter()
        done: Done | None = None
        for event in self.backend.generate(prompt_ids, original_ids, config):
            if isinstance(event, Error):
                raise RuntimeError(f"{method} failed on {item.id}: {event.message}")
            if isinstance(event, Done):
                done = event
        seconds = time.perf_counter() - start
        assert done is not None
        s = done.stats
        run = MethodRun(
            item.id,
            method,
            True,
            None,
            s.new_tokens,
            s.chars,
            seconds,
            s.target_forwards,
            s.draft_forwards,
            {layer: s.acceptance(layer) for layer in ("lookup", "draft")},
            item.edit_ratio,
            overrides or {},
        )
        return list(done.token_ids), run

    def _run_hf(
        self, item: BenchItem, method: str, prompt_ids: list[int], config: SpecConfig
    ) -> tuple[list[int], MethodRun]:
        """transformers' own ``generate`` as the baseline users already have (forwards counted by hooks)."""
        import torch

        m = self.backend.models
        kwargs: dict[str, Any] = {}
        if method == "hf-pld":
            kwargs["prompt_lookup_num_tokens"] = config.num_lookup_tokens
            kwargs["max_matching_ngram_size"] = config.max_matching_ngram_size
        else:
            kwargs["assistant_model"] = self.assistant()
        # Count decoder-layer calls, not model calls: the self-speculative draft is a shallow clone of
        # the target and shares its module hooks. The target's last layer runs only in target forwards;
        # the assistant's first layer runs in its own forwards (and in the target's when shared).
        target_layers = m.target.get_decoder().layers
        counts = {"last": 0, "first": 0}
        hooks = [
            target_layers[-1].register_forward_hook(lambda *_: counts.__setitem__("last", counts["last"] + 1))
        ]
        assistant = kwargs.get("assistant_model")
        shared = False
        if assistant is not None:
            first = assistant.get_decoder().layers[0]
            hooks.append(
                first.register_forward_hook(lambda *_: counts.__setitem__("first", counts["first"] + 1))
            )
            shared = first is target_layers[0]
        ids = torch.tensor([prompt_ids], device=m.device)
        try:
            start = time.perf_counter()
            with torch.inference_mode():
                out = m.target.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    do_sample=False,
                    max_new_tokens=config.max_new_tokens,
                    stopping_criteria=_stop_criteria(m.tokenizer, config.stop_text),
                    pad_token_id=m.tokenizer.pad_token_id or m.tokenizer.eos_token_id,
                    **kwargs,
                )
            seconds = time.perf_counter() - start
        finally:
            for h in hooks:
                h.remove()
        new = out[0, len(prompt_ids) :].tolist()
        eos = set(_eos_ids(m))
        for i, t in enumerate(new):  # generate() keeps the EOS token: drop it like the engine does
            if t in eos:
                new = new[:i]
                break
        text = m.tokenizer.decode(new, skip_special_tokens=True)
        draft_forwards = counts["first"] - (counts["last"] if assistant is not None and shared else 0)
        run = MethodRun(
            item.id, method, True, None, len(new), len(text), seconds, counts["last"], draft_forwards
        )
        run.edit_ratio = item.edit_ratio
        return new, run

    def assistant(self):  # noqa: ANN201 - a transformers model
        """The draft for ``hf-assisted``: the explicit draft, else the engine's self-speculative one."""
        m = self.backend.models
        if m.draft is not None:
            return m.draft
        from decoding.models.early_exit import early_exit_draft

        return early_exit_draft(m.target, self.backend.config.early_exit_layers)


def _stop_criteria(tokenizer: Any, stop_text: str | None) -> Any:
    """The closing-fence stop as a ready criterion (``stop_strings=`` breaks with an assistant model)."""
    from transformers import StoppingCriteriaList, StopStringCriteria

    return StoppingCriteriaList([StopStringCriteria(tokenizer, [stop_text])] if stop_text else [])


def _eos_ids(models: Any) -> list[int]:
    eos = models.target.generation_config.eos_token_id
    ids = eos if isinstance(eos, list) else [eos] if eos is not None else []
    if models.tokenizer.eos_token_id is not None:
        ids.append(models.tokenizer.eos_token_id)
    return ids


def compare(reference: list[int], ids: list[int]) -> tuple[bool, int | None]:
    if reference == ids:
        return True, None
    for i, (a, b) in enumerate(zip(reference, ids, strict=False)):
        if a != b:
            return False, i
    return False, min(len(reference), len(ids))


def run_bench(
    runner: Runner,
    items: Sequence[BenchItem],
    methods: Sequence[str],
    grid: Sequence[dict[str, int]] = (),
    warmup: bool = True,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> list[MethodRun]:
    """All (item, method) runs; ``regular`` is the reference and always runs first on each item."""
    variants: list[tuple[str, dict[str, int]]] = [(m, {}) for m in methods if m != "regular"]
    variants += [("multilayer", cfg) for cfg in grid]
    if warmup and items:
        for method, cfg in [("regular", {}), *variants]:
            runner.run(items[0], method, cfg)
    results: list[MethodRun] = []
    total = len(items) * (1 + len(variants))
    done = 0
    for item in items:
        ref_ids, ref = runner.run(item, "regular")
        results.append(ref)
        done += 1
        if on_progress:
            on_progress(done, total, f"{item.id} regular")
        for method, cfg in variants:
            ids, run = runner.run(item, method, cfg)
            run.identical, run.first_diff = compare(ref_ids, ids)
            results.append(run)
            done += 1
            if on_progress:
                on_progress(done, total, f"{item.id} {method}")
    return results


def label(run: MethodRun) -> str:
    if not run.config:
        return run.method
    return run.method + "[" + ",".join(f"{k}={v}" for k, v in sorted(run.config.items())) + "]"


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass(frozen=True)
class Row:
    label: str
    n: int
    identical: int
    mean_cps: float
    p50_cps: float
    p90_cps: float
    mean_tps: float
    tokens_per_forward: float
    speedup_vs_regular: float
    lookup_acc: float | None
    draft_acc: float | None


def summarize(runs: Iterable[MethodRun], bucket: tuple[float, float] | None = None) -> list[Row]:
    """Per-method rows; speed-up = mean chars/s over regular's mean chars/s on the same items."""
    groups: dict[str, list[MethodRun]] = {}
    for r in runs:
        if bucket is not None and (r.edit_ratio is None or not bucket[0] <= r.edit_ratio < bucket[1]):
            continue
        groups.setdefault(label(r), []).append(r)
    reg = groups.get("regular", [])
    reg_mean = statistics.fmean([r.chars_per_s for r in reg]) if reg else 0.0
    rows = []
    for name, rs in groups.items():
        cps = [r.chars_per_s for r in rs]
        mean = statistics.fmean(cps)
        fwd = sum(r.target_forwards for r in rs)
        rows.append(
            Row(
                name,
                len(rs),
                sum(r.identical for r in rs),
                mean,
                percentile(cps, 0.5),
                percentile(cps, 0.9),
                statistics.fmean([r.tokens_per_s for r in rs]),
                sum(r.new_tokens for r in rs) / fwd if fwd else 0.0,
                mean / reg_mean if reg_mean else 0.0,
                _mean_acc(rs, "lookup"),
                _mean_acc(rs, "draft"),
            )
        )
    return rows


def _mean_acc(runs: Sequence[MethodRun], layer: str) -> float | None:
    vals = [r.acceptance.get(layer) for r in runs if r.acceptance.get(layer) is not None]
    return statistics.fmean(vals) if vals else None  # type: ignore[arg-type]


def best_baseline(rows: Sequence[Row]) -> Row | None:
    """The fastest single-layer method (ours or transformers'): what multilayer must beat."""
    singles = [r for r in rows if r.label in {"lookup", "draft", "hf-pld", "hf-assisted"}]
    return max(singles, key=lambda r: r.mean_cps, default=None)


def bucket_name(bucket: tuple[float, float]) -> str:
    return f"{bucket[0]:.1f}-{min(bucket[1], 1.0):.1f}"


def iter_buckets(runs: Sequence[MethodRun]) -> Iterator[tuple[str, list[Row]]]:
    for b in BUCKETS:
        rows = summarize(runs, b)
        if rows:
            yield bucket_name(b), rows


def plot(runs: Sequence[MethodRun], out: Path, title: str) -> None:
    """Chars/s against edit ratio per method, like the Blazedit write-up (one point per item)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    by_label: dict[str, list[MethodRun]] = {}
    for r in runs:
        if r.edit_ratio is not None:
            by_label.setdefault(label(r), []).append(r)
    for name, rs in sorted(by_label.items()):
        ax.scatter([r.edit_ratio for r in rs], [r.chars_per_s for r in rs], label=name, s=14, alpha=0.75)
    ax.set_xlabel("edit ratio (1 - difflib ratio of before/after)")
    ax.set_ylabel("chars/s (generated)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


@dataclass
class FormatRun:
    item_id: str
    format: str
    new_tokens: int
    seconds: float
    merged: bool  # the answer became a proposal (a lazy merge may refuse)
    note: str = ""


def compare_formats(
    backend: LocalBackend,
    items: Sequence[BenchItem],
    on_progress: Callable[[int, int, str], None] | None = None,
) -> list[FormatRun]:
    """Whole-file vs lazy answers for the same items through the app's own pipeline (no fallback)."""
    from decoding.session import Proposal, propose_edit

    runs: list[FormatRun] = []
    for n, item in enumerate(items, 1):
        for fmt in ("whole", "lazy"):
            request = EditRequest(path=item.path, original=item.before, instruction=item.instruction)
            start = time.perf_counter()
            tokens, merged, note = 0, False, ""
            for event in propose_edit(backend, request, fmt):
                if isinstance(event, Done):
                    tokens = event.stats.new_tokens
                elif isinstance(event, Proposal):
                    merged = True
                elif isinstance(event, Error):
                    note = event.message
            runs.append(FormatRun(item.id, fmt, tokens, time.perf_counter() - start, merged, note))
        if on_progress:
            on_progress(n, len(items), f"{item.id} whole/lazy")
    return runs


def summarize_formats(runs: Sequence[FormatRun]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for fmt in ("whole", "lazy"):
        rs = [r for r in runs if r.format == fmt]
        if rs:
            out[fmt] = {
                "items": len(rs),
                "mean_tokens": statistics.fmean(r.new_tokens for r in rs),
                "mean_seconds": statistics.fmean(r.seconds for r in rs),
                "merged": sum(r.merged for r in rs),
            }
    return out


def markdown_tables(payload: dict[str, Any]) -> str:
    """The summary and per-bucket tables of a ``--json`` payload as Markdown (for docs/benchmarks.md)."""
    head = (
        "| method | n | identical | mean chars/s | P50 | P90 | tok/s | tok/fwd | x regular "
        "| lookup acc | draft acc |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v * 100:.0f}%"

    def table(rows: list[dict[str, Any]]) -> str:
        return head + "".join(
            f"| {r['label']} | {r['n']} | {r['identical']}/{r['n']} | {r['mean_cps']:.1f} "
            f"| {r['p50_cps']:.1f} "
            f"| {r['p90_cps']:.1f} | {r['mean_tps']:.1f} | {r['tokens_per_forward']:.2f} "
            f"| {r['speedup_vs_regular']:.2f}x | {pct(r['lookup_acc'])} | {pct(r['draft_acc'])} |\n"
            for r in rows
        )

    parts = [f"All {payload['items']} items:\n\n" + table(payload["summary"])]
    for name, rows in payload.get("buckets", {}).items():
        parts.append(f"Edit ratio {name}:\n\n" + table(rows))
    return "\n".join(parts)
