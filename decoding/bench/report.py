"""What a bench run means: per-method summaries (overall and per edit-ratio bucket), Markdown, plots.

Speed-ups are ratios of means within one run on one machine, never absolute claims: the harness
interleaves the methods per item so the same machine noise hits all of them.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from decoding.bench.runner import FormatRun, MethodRun

BUCKETS = ((0.0, 0.1), (0.1, 0.3), (0.3, 0.5), (0.5, 1.01))


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
    first_token_s: float = 0.0  # mean time to the first answer token (the prefill)
    decode_tps: float = 0.0  # tokens/s after the first token, over all items
    forward_share: float | None = None  # mean share of the time spent in model forwards


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
                statistics.fmean([r.first_token_seconds for r in rs]),
                _decode_rate(rs),
                _mean([r.forward_share for r in rs]),
            )
        )
    return rows


def _decode_rate(runs: Sequence[MethodRun]) -> float:
    """Tokens after the first over the seconds after the first token, summed over the items.

    A mean of per-item rates would be ruled by short answers, whose few tokens after a long prefill
    make huge or meaningless rates.
    """
    timed = [r for r in runs if r.first_token_seconds]
    seconds = sum(r.seconds - r.first_token_seconds for r in timed)
    return sum(r.new_tokens for r in timed) / seconds if seconds > 0 else 0.0


def _mean(values: Iterable[float | None]) -> float | None:
    """Mean of the measured values (None: none measured)."""
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else None


def _mean_acc(runs: Sequence[MethodRun], layer: str) -> float | None:
    return _mean(r.acceptance.get(layer) for r in runs)


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
        "| lookup acc | draft acc | first token s | decode tok/s | in forwards |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v * 100:.0f}%"

    def table(rows: list[dict[str, Any]]) -> str:
        return head + "".join(
            f"| {r['label']} | {r['n']} | {r['identical']}/{r['n']} | {r['mean_cps']:.1f} "
            f"| {r['p50_cps']:.1f} "
            f"| {r['p90_cps']:.1f} | {r['mean_tps']:.1f} | {r['tokens_per_forward']:.2f} "
            f"| {r['speedup_vs_regular']:.2f}x | {pct(r['lookup_acc'])} | {pct(r['draft_acc'])} "
            f"| {r.get('first_token_s', 0.0):.1f} | {r.get('decode_tps', 0.0):.1f} "
            f"| {pct(r.get('forward_share'))} |\n"
            for r in rows
        )

    parts = [f"All {payload['items']} items:\n\n" + table(payload["summary"])]
    for name, rows in payload.get("buckets", {}).items():
        parts.append(f"Edit ratio {name}:\n\n" + table(rows))
    return "\n".join(parts)
