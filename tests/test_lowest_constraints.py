"""constraints/lowest.txt pins each dependency at its lower bound, so the lowest-versions job tests the floor.

A bound raised in pyproject.toml but not here (or a new dependency left out) would make
scripts/test-lowest.sh test versions that no longer match what we publish.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def lower_bound(requirement: Requirement) -> Version | None:
    floors = [Version(spec.version) for spec in requirement.specifier if spec.operator in (">=", "==")]
    return floors[0] if len(floors) == 1 else None


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"].values()
    return [Requirement(line) for line in [*project["dependencies"], *(d for deps in extras for d in deps)]]


def pinned() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "constraints" / "lowest.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_every_dependency_has_one_lower_bound() -> None:
    assert [str(r) for r in declared() if lower_bound(r) is None] == []


def test_constraints_pin_exactly_the_lower_bounds() -> None:
    floors = {canonicalize_name(r.name): lower_bound(r) for r in declared()}
    assert pinned() == floors


def test_the_pins_lie_inside_the_ranges() -> None:
    """A floor like ``>=0.25`` pinned as 0.25.0 must still satisfy the rest of the range (``<0.26``)."""
    pins = pinned()
    outside = [str(r) for r in declared() if pins[canonicalize_name(r.name)] not in r.specifier]
    assert outside == []
