"""How many threads a model gets, and when the draft may read beside the target (decoding.models.cores)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decoding.engine.kv import CachedModel
from decoding.models import cores, llamacpp
from tests.tiny_models import make_tiny_llama


def _topology(root: Path, layout: dict[int, tuple[int, int]]) -> Path:
    """A fake /sys/devices/system/cpu: cpu number -> (package, core)."""
    for cpu, (package, core) in layout.items():
        base = root / f"cpu{cpu}" / "topology"
        base.mkdir(parents=True)
        (base / "physical_package_id").write_text(f"{package}\n")
        (base / "core_id").write_text(f"{core}\n")
    return root


def test_hyperthreads_of_one_core_count_once(tmp_path: Path) -> None:
    topology = _topology(tmp_path, {0: (0, 0), 1: (0, 1), 2: (0, 0), 3: (0, 1), 4: (1, 0)})
    assert cores.physical_cores({0, 1, 2, 3, 4}, topology) == 3
    assert cores.physical_cores({0, 2}, topology) == 1  # the process may use one core's two threads


def test_without_topology_every_cpu_is_a_core(tmp_path: Path) -> None:
    assert cores.physical_cores({0, 1, 2}, tmp_path) == 3


@pytest.mark.parametrize(("env", "expected"), [("3", 3), ("", 1), ("zero", 1), ("0", 1)])
def test_llama_runs_one_thread_unless_the_environment_asks_for_more(
    env: str, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two threads are not bit-reproducible (tests/test_engine_llamacpp.py's history): one by default."""
    monkeypatch.setenv("SPECEDIT_LLAMA_THREADS", env)
    assert llamacpp.default_threads() == expected


class _Llama:
    def __init__(self, threads: int) -> None:
        self.threads = threads


def test_cpu_threads_of_each_engine() -> None:
    assert cores.cpu_threads(_Llama(3)) == 3
    assert cores.cpu_threads(CachedModel(make_tiny_llama(num_layers=1))) == torch.get_num_threads()

    class OnGpu:
        device = torch.device("cuda", 0)

    assert cores.cpu_threads(OnGpu()) == 0


@pytest.mark.parametrize(
    ("target", "draft", "spare"), [(1, 1, True), (2, 1, False), (2, 2, False), (1, 0, True)]
)
def test_the_draft_reads_beside_the_target_only_with_a_core_to_spare(
    target: int, draft: int, spare: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cores, "usable_cpus", lambda: {0, 1})
    monkeypatch.setattr(cores, "physical_cores", lambda cpus: len(cpus))
    assert cores.side_by_side(_Llama(target), _Llama(draft)) is spare
