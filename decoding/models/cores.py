"""How many CPU cores a model may keep busy, and whether the draft can work beside the target.

llama.cpp's threads meet at a barrier after every layer, so a forward runs at the pace of its slowest
thread: one thread preempted by another process stalls all of them. Measured on a 2-core VM
(Qwen2.5-Coder-1.5B Q4_K_M, docs/benchmarks.md): idle, 2 threads decode a token in 46 ms against
77 ms with one; with one other busy process, 2 threads take 104 ms (p90 251 ms) and one thread 78 ms.
So a model gets the physical cores that other work leaves idle, judged by the load average.
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


def busy_cores() -> int:
    """Cores other work keeps busy now: the 1-minute load average, rounded (0 where there is none)."""
    try:
        return round(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0


def idle_cores() -> int:
    """Physical cores this process may use, less those the load average says are busy (at least 1)."""
    return max(1, physical_cores(usable_cpus()) - busy_cores())


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
