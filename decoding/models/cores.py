"""Whether the draft can read the prompt beside the target without taking a core the target uses.

llama.cpp's threads meet at a barrier after every layer, so a forward runs at the pace of its slowest
thread: a draft that preempts one of the target's threads stalls them all (docs/benchmarks.md).
"""

from __future__ import annotations

import os
from pathlib import Path

_TOPOLOGY = Path("/sys/devices/system/cpu")


def usable_cpus() -> set[int]:
    """The logical CPUs this process may run on (its affinity, where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def physical_cores(cpus: set[int], topology: Path = _TOPOLOGY) -> int:
    """Distinct physical cores among ``cpus``: two hyperthreads of one core share its vector units,
    and llama.cpp runs no faster on both. Without topology information every CPU counts as a core."""
    cores: set[tuple[str, str]] = set()
    for cpu in cpus:
        base = topology / f"cpu{cpu}" / "topology"
        try:
            package = (base / "physical_package_id").read_text().strip()
            core = (base / "core_id").read_text().strip()
        except OSError:
            return len(cpus)
        cores.add((package, core))
    return max(1, len(cores))


def cpu_threads(lm: object) -> int:
    """CPU threads a forward of ``lm`` keeps busy: its own count where it reports one (llama.cpp),
    none for a model on a GPU, otherwise torch's thread pool."""
    threads = getattr(lm, "threads", None)
    if isinstance(threads, int):
        return threads
    device = getattr(lm, "device", None)
    if device is not None and getattr(device, "type", "cpu") != "cpu":
        return 0
    import torch

    return torch.get_num_threads()


def side_by_side(target: object, draft: object) -> bool:
    """Whether the draft can run beside the target without taking a core the target's threads use."""
    return cpu_threads(target) + cpu_threads(draft) <= physical_cores(usable_cpus())
