"""``specedit bench --check``: does the edit work? Each item's tests run against each method's answer.

Speed is measured elsewhere; this module measures what a user gets. Every answer goes through the
app's own extraction (:func:`decoding.prompts.extract_file`) and proposal check
(:func:`decoding.checks.check_proposal`), so the numbers say how often the check flags an answer that
then fails its tests (caught) and how often it flags one that passes (a false alarm). The dataset's
own edited files (``after``) go through the same check and tests as a ``reference`` row: they are
edits known to be good, so the flags on them measure false alarms even for a model that passes nothing.

Test code is data from the dataset, never imported into our process: the answer and the tests are
written to a temporary folder and run by a separate ``python -I`` with a time limit (its process group
is killed after it), without network (a new network namespace where ``unshare`` allows one, and in any
case a socket module that refuses to connect), a memory limit, and nothing of ours on its path.
Identical answers (lossless methods give the same text) are tested once.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from common.process import run_bounded
from decoding.bench.report import label
from decoding.bench.runner import BenchItem, MethodRun
from decoding.checks import check_proposal
from decoding.prompts import NoFileBlock, extract_file

Outcome = Literal["pass", "fail", "timeout", "no-file", "no-tests"]

DEFAULT_TIMEOUT_S = 20.0
REFERENCE = "reference"  # the row of the dataset's own edits (``after``): how often the check cries wolf
MEMORY_LIMIT_BYTES = 1 << 30

# Runs first in the child: no sockets, bounded memory; then the answer, then the dataset's tests.
_PRELUDE = f"""\
import resource as _r, socket as _s
_r.setrlimit(_r.RLIMIT_AS, ({MEMORY_LIMIT_BYTES}, {MEMORY_LIMIT_BYTES}))
def _no_network(*args, **kwargs):
    raise OSError("network access is disabled in specedit bench --check")
_s.socket = _s.create_connection = _s.getaddrinfo = _no_network
del _r, _s
"""
_EPILOGUE = "\n\nif callable(globals().get('check')):\n    check()\n"


@dataclass(frozen=True)
class QualityResult:
    """One method's answer to one item, tested."""

    item_id: str
    method: str
    outcome: Outcome
    findings: tuple[str, ...] = ()  # the proposal check's findings, as printed
    detail: str = ""  # the end of the test output, or why there was no file

    @property
    def flagged(self) -> bool:
        return bool(self.findings)


@dataclass
class QualitySummary:
    """Pass rate of one method and how the proposal check's flags line up with the tests."""

    method: str
    items: int = 0
    passed: int = 0
    no_file: int = 0  # cut off or no code block: never a proposal, counted as failing
    flagged_failing: int = 0  # a proposal the check flagged and the tests fail: caught
    flagged_passing: int = 0  # flagged but the tests pass: a false alarm
    unflagged_failing: int = 0  # the tests fail and the check saw nothing: missed
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.items if self.items else 0.0


def test_source(answer_file: str, tests: str) -> str:
    """The program the child runs: the answer's code, then the tests, then ``check()`` if defined."""
    return f"{_PRELUDE}\n{answer_file}\n\n{tests}{_EPILOGUE}"


@functools.cache
def _netns_prefix() -> tuple[str, ...]:
    """``unshare`` into an empty network namespace when this machine allows it (root or user namespaces)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    for prefix in ((unshare, "-n"), (unshare, "-rn")):
        try:
            probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return prefix
    return ()


def run_tests(answer_file: str, tests: str, timeout: float = DEFAULT_TIMEOUT_S) -> tuple[Outcome, str]:
    """Run ``tests`` against ``answer_file`` in a child Python; the outcome and its output's end."""
    with tempfile.TemporaryDirectory(prefix="specedit-check-") as folder:
        program = Path(folder) / "check_item.py"
        program.write_text(test_source(answer_file, tests), encoding="utf-8")
        argv = [*_netns_prefix(), sys.executable, "-I", str(program)]
        run = run_bounded(argv, Path(folder), timeout, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    if run.timed_out:
        return "timeout", run.output[-2000:]
    return ("pass" if run.returncode == 0 else "fail"), run.output[-2000:]


class QualityChecker:
    """Collects one :class:`QualityResult` per (item, method) answer; identical answers run once.

    During a bench run :meth:`on_answer` only keeps the tokens (``run_bench(on_answer=...)``), so
    test processes never compete with the timed generations; :meth:`run_all` tests them afterwards.
    """

    def __init__(self, tokenizer: object, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.decode = tokenizer.decode  # type: ignore[attr-defined]
        self.timeout = timeout
        self.results: list[QualityResult] = []
        self._pending: list[tuple[BenchItem, str, list[int]]] = []
        self._tested: dict[str, tuple[Outcome, str]] = {}

    def on_answer(self, item: BenchItem, run: MethodRun, ids: list[int]) -> None:
        self._pending.append((item, label(run), ids))

    def run_all(self, on_progress: Callable[[int, int, str], None] | None = None) -> list[QualitySummary]:
        """Test every collected answer, then each item's reference edit; the per-method summaries."""
        for n, (item, method, ids) in enumerate(self._pending, 1):
            self.add(item, method, self.decode(ids, skip_special_tokens=True))
            if on_progress:
                on_progress(n, len(self._pending), f"{item.id} {method} tests")
        for item in {id(item): item for item, _, _ in self._pending}.values():
            if item.after is not None:
                self.record(item, REFERENCE, item.after)
        self._pending.clear()
        return summarize(self.results)

    def add(self, item: BenchItem, method: str, answer: str) -> QualityResult:
        """Extract, check and test one raw answer (the text after the pre-filled opening fence)."""
        try:
            new_text: str | None = extract_file(answer, item.before)
        except NoFileBlock:
            new_text = None
        return self.record(item, method, new_text)

    def record(self, item: BenchItem, method: str, new_text: str | None) -> QualityResult:
        """Check and test one proposed file (None: the answer held none)."""
        findings = () if new_text is None else self._findings(item, new_text)
        if not item.tests:
            result = QualityResult(item.id, method, "no-tests", findings)
        elif new_text is None:
            result = QualityResult(
                item.id, method, "no-file", detail="no closed code block (cut off or prose)"
            )
        else:
            key = hashlib.sha256(f"{new_text}\0{item.tests}".encode()).hexdigest()
            if key not in self._tested:
                self._tested[key] = run_tests(new_text, item.tests, self.timeout)
            outcome, detail = self._tested[key]
            result = QualityResult(item.id, method, outcome, findings, detail)
        self.results.append(result)
        return result

    @staticmethod
    def _findings(item: BenchItem, new_text: str) -> tuple[str, ...]:
        return tuple(str(f) for f in check_proposal(item.before, new_text, item.path, item.instruction))


def summarize(results: Iterable[QualityResult]) -> list[QualitySummary]:
    """Per method, in first-seen order; items without tests are left out of every count."""
    by_method: dict[str, QualitySummary] = {}
    outcomes: dict[str, defaultdict[str, int]] = {}
    for r in results:
        s = by_method.setdefault(r.method, QualitySummary(r.method))
        outcomes.setdefault(r.method, defaultdict(int))[r.outcome] += 1
        if r.outcome == "no-tests":
            continue
        s.items += 1
        s.passed += r.outcome == "pass"
        s.no_file += r.outcome == "no-file"
        if r.outcome in ("fail", "timeout"):
            s.flagged_failing += r.flagged
            s.unflagged_failing += not r.flagged
        elif r.outcome == "pass":
            s.flagged_passing += r.flagged
    for method, s in by_method.items():
        s.outcomes = dict(outcomes[method])
    return list(by_method.values())


def markdown_table(summaries: Iterable[QualitySummary]) -> str:
    """The pass-rate table for docs/benchmarks.md."""
    lines = [
        "| method | items | pass | pass rate | no file | flagged & failing | flagged & passing "
        "| failing, not flagged |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.method} | {s.items} | {s.passed} | {s.pass_rate:.0%} | {s.no_file} | {s.flagged_failing} "
            f"| {s.flagged_passing} | {s.unflagged_failing} |"
        )
    return "\n".join(lines) + "\n"
