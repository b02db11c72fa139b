"""How the cost of a one-line edit grows with the file: whole file vs selection vs lazy (issue #21).

Usage: .venv/bin/python scripts/bench_large_files.py [--model smollm2] [--lines 100 1000 5000]

Each file is N lines of small numbered functions; the instruction changes one line of the function in
the middle. "whole" and "lazy" send the whole file, "selection" sends that function (``--symbol``) with
three lines of context. Time to first token (TTFT: the first streamed span, so it includes the prefill)
and total time to the proposal are wall-clock, one run each after an untimed warm-up edit, on the
machine as it is (record ``uptime`` with the numbers). A request that does not fit the model's
context is reported as refused, which is what the user sees: the context check answers at once.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable

from decoding.backends.local import LocalBackend
from decoding.engine.config import SpecConfig, resolve_method
from decoding.events import Error, Span
from decoding.models.load import load_models
from decoding.request import EditRequest
from decoding.selection import propose_selection, symbol_selection
from decoding.session import CutOff, Proposal, propose_edit


def numbered_functions(lines: int) -> str:
    """``lines`` lines of four-line functions ``f1``, ``f2``, ... (a def, a docstring, a return, a blank)."""
    blocks = [
        f'def f{i}(x):\n    """Return x plus {i}."""\n    return x + {i}\n\n'
        for i in range(1, lines // 4 + 1)
    ]
    return "".join(blocks)


def timed(events: Iterable[object]) -> tuple[float | None, float, str]:
    """(seconds to the first span, seconds to the end, outcome)."""
    start = time.perf_counter()
    first: float | None = None
    outcome = "no proposal"
    for event in events:
        if isinstance(event, Span) and first is None:
            first = time.perf_counter() - start
        elif isinstance(event, Error):
            outcome = f"refused ({event.kind})" if event.kind == "context" else f"error: {event.message[:60]}"
        elif isinstance(event, CutOff):
            outcome = "cut off"
        elif isinstance(event, Proposal):
            outcome = f"proposal ({event.stats.new_tokens} tok)"
    return first, time.perf_counter() - start, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--draft", default=None)
    parser.add_argument("--lines", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--modes", nargs="+", default=["whole", "selection", "lazy"])
    parser.add_argument(
        "--threads", type=int, default=2, help="torch threads (1 is faster on a CPU shared with other jobs)"
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    models = load_models(args.model, args.draft, device="cpu")
    method = resolve_method("auto", models.draft is not None, models.engine)
    backend = LocalBackend(models, SpecConfig(method=method))
    print(f"model: {models.describe()} · {method}")
    warm = numbered_functions(40)  # one untimed edit first: the first forwards in a process pay for setup
    timed(propose_selection(backend, symbol_selection(warm, "w.py", "f2"), "w.py", "return x minus 2"))
    print("| lines | mode | TTFT s | total s | outcome |\n|---:|---|---:|---:|---|")
    for lines in args.lines:
        text = numbered_functions(lines)
        k = lines // 8  # a function in the middle
        instruction = f"In f{k}, return x minus {k} instead of x plus {k}."
        for mode in args.modes:
            if mode == "selection":
                selection = symbol_selection(text, "funcs.py", f"f{k}")
                events = propose_selection(backend, selection, "funcs.py", instruction)
            else:
                request = EditRequest(path="funcs.py", original=text, instruction=instruction)
                events = propose_edit(backend, request, mode)  # type: ignore[arg-type]
            first, total, outcome = timed(events)
            ttft = f"{first:.2f}" if first is not None else "-"
            print(f"| {lines:,} | {mode} | {ttft} | {total:.2f} | {outcome} |", flush=True)


if __name__ == "__main__":
    main()
