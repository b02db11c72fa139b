"""Side-by-side benchmark harness: run every decoding method on every item and measure it.

Every item runs with every method in the same process, interleaved per item, so drift on a noisy
machine hits all methods alike. ``regular`` always runs first on an item: it is the reference every
other method's tokens are compared with (losslessness is checked on every run, not assumed).
transformers' baselines live in ``hf.py``; summaries, tables and plots in ``report.py``.
"""

from __future__ import annotations

import difflib
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from decoding.backends.local import LocalBackend
from decoding.bench.hf import HF_METHODS, run_baseline
from decoding.engine.config import METHODS, SpecConfig
from decoding.events import Done, Error
from decoding.request import EditRequest

ENGINE_METHODS: tuple[str, ...] = METHODS
ALL_METHODS = ENGINE_METHODS + HF_METHODS


@dataclass(frozen=True)
class BenchItem:
    id: str
    path: str
    before: str
    instruction: str
    edit_ratio: float | None
    tests: str | None = None  # the dataset's test code for the edited file (bench --check runs it)
    after: str | None = None  # the dataset's own edited file (bench --check tests it as a reference)


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
    first_token_seconds: float = 0.0  # prefill up to the first answer token (0: not measured)
    forward_seconds: float = 0.0  # of ``seconds``, time inside model forwards (0: not measured)

    @property
    def forward_share(self) -> float | None:
        """Share of the run spent in forwards; the rest is the engine's own Python (lookup, events…)."""
        return self.forward_seconds / self.seconds if self.forward_seconds and self.seconds > 0 else None

    @property
    def decode_tokens_per_s(self) -> float:
        """Tokens per second after the first one: speculation's share, without the prefill's."""
        decode = self.seconds - self.first_token_seconds
        return self.new_tokens / decode if self.first_token_seconds and decode > 0 else 0.0

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
            "decode_tokens_per_s": self.decode_tokens_per_s,
            "forward_share": self.forward_share,
        }


_EXT = {"python": ".py", "java": ".java", "c": ".c", "cpp": ".cpp", "javascript": ".js", "go": ".go"}


def load_dataset(path: Path, limit: int | None = None, min_chars: int = 0) -> list[BenchItem]:
    """Read JSONL items (``id``, ``before``, ``instruction``; ``after``/``edit_ratio`` optional).

    ``min_chars`` keeps only files at least that long (the long items, where speed matters most);
    ``limit`` counts the items kept.
    """
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
            if len(before) < min_chars:
                continue
            ratio = row.get("edit_ratio")
            if ratio is None and row.get("after") is not None:
                ratio = 1 - difflib.SequenceMatcher(None, before, row["after"]).ratio()
            ext = _EXT.get(str(row.get("lang", "python")).lower(), ".txt")
            item_id = str(row.get("id", n))
            item = BenchItem(
                item_id, f"file{ext}", before, instruction, ratio, row.get("tests"), row.get("after")
            )
            items.append(item)
            if limit is not None and len(items) >= limit:
                break
    return items


GridVariant = tuple[str, dict[str, int]]  # a method and the SpecConfig fields it runs with


def parse_grid(specs: Sequence[str], method: str = "multilayer") -> list[GridVariant]:
    """``["micro_draft_tokens=20,40", "max_num_run=1,4"]`` -> ``method`` with every combination."""
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
        (method, dict(zip([a for a, _ in axes], combo, strict=True)))
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
            baseline = run_baseline(self.backend.models, method, prompt_ids, config)
            run = MethodRun(
                item.id,
                method,
                True,
                None,
                len(baseline.token_ids),
                len(baseline.text),
                baseline.seconds,
                baseline.target_forwards,
                baseline.draft_forwards,
                edit_ratio=item.edit_ratio,
            )
            return baseline.token_ids, run
        # Cold runs: every method pays its own prefill, as a first edit of a file does.
        config = self.backend.config_for(
            request, original_ids, method=method, reuse_prefix=False, **(overrides or {})
        )
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
            s.prefill_seconds,
            s.forward_seconds,
        )
        return list(done.token_ids), run


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
    grid: Sequence[GridVariant] = (),
    warmup: bool = True,
    on_progress: Callable[[int, int, str], None] | None = None,
    on_answer: Callable[[BenchItem, MethodRun, list[int]], None] | None = None,
) -> list[MethodRun]:
    """All (item, method) runs; ``regular`` is the reference and always runs first on each item.

    ``on_answer`` sees every measured run's tokens (``bench --check`` tests the answers).
    """
    variants: list[tuple[str, dict[str, int]]] = [(m, {}) for m in methods if m != "regular"]
    variants += grid
    plan = [("regular", {}), *variants]
    if warmup and items:
        for method, cfg in plan:
            runner.run(items[0], method, cfg)
    results: list[MethodRun] = []
    for item in items:
        ref_ids: list[int] | None = None
        for method, cfg in plan:
            ids, run = runner.run(item, method, cfg)
            if ref_ids is None:
                ref_ids = ids  # regular: the reference every other method is compared with
            else:
                run.identical, run.first_diff = compare(ref_ids, ids)
            results.append(run)
            if on_answer:
                on_answer(item, run, ids)
            if on_progress:
                on_progress(len(results), len(items) * len(plan), f"{item.id} {method}")
    return results


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
