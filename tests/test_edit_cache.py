from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from decoding.personal.cache import EditCache, cache_key, output_identity
from decoding.request import EditRequest


def req(original: str = "x = 1\n", instruction: str = "rename x to y") -> EditRequest:
    return EditRequest(path="a.py", original=original, instruction=instruction)


def test_miss_then_hit() -> None:
    cache = EditCache()
    assert cache.get(req(), "m") is None
    cache.put(req(), "m", "y = 1\n")
    assert cache.get(req(), "m") == "y = 1\n"


def test_instruction_whitespace_is_normalised_but_case_is_not() -> None:
    cache = EditCache()
    cache.put(req(instruction="rename x to y"), "m", "y = 1\n")
    assert cache.get(req(instruction="  rename   x\nto y "), "m") == "y = 1\n"
    assert cache.get(req(instruction="Rename X to Y"), "m") is None


WHOLE = output_identity("m", "whole")


@pytest.mark.parametrize(
    "other",
    [
        (req(original="x = 2\n"), WHOLE),
        (req(), output_identity("m", "lazy")),
        (req(), output_identity("other-model", "whole")),
        (req(instruction="rename x to z"), WHOLE),
        (replace(req(), earlier=("add a docstring",)), WHOLE),
    ],
)
def test_any_key_part_changing_misses(other: tuple[EditRequest, str]) -> None:
    cache = EditCache()
    cache.put(req(), WHOLE, "y = 1\n")
    assert cache.get(req(), WHOLE) == "y = 1\n"
    assert cache.get(*other) is None


def test_path_is_not_part_of_the_key() -> None:
    moved = EditRequest(path="b/c.py", original="x = 1\n", instruction="rename x to y")
    assert cache_key(moved, "m") == cache_key(req(), "m")


def test_least_recently_used_is_evicted() -> None:
    cache = EditCache(capacity=2)
    cache.put(req(original="a"), "m", "A")
    cache.put(req(original="b"), "m", "B")
    assert cache.get(req(original="a"), "m") == "A"  # a is now the most recent
    cache.put(req(original="c"), "m", "C")
    assert len(cache) == 2
    assert cache.get(req(original="b"), "m") is None
    assert cache.get(req(original="a"), "m") == "A"
    assert cache.get(req(original="c"), "m") == "C"


def test_put_replaces_an_existing_entry() -> None:
    cache = EditCache(capacity=2)
    cache.put(req(), "m", "first")
    cache.put(req(), "m", "second")
    assert len(cache) == 1
    assert cache.get(req(), "m") == "second"


def test_persists_across_instances_with_lru_order(tmp_path: Path) -> None:
    path = tmp_path / "edits" / "cache.json"
    cache = EditCache(path, capacity=3)
    for name in "abc":
        cache.put(req(original=name), "m", name.upper())
    cache.get(req(original="a"), "m")
    reopened = EditCache(path, capacity=3)
    assert len(reopened) == 3
    reopened.put(req(original="d"), "m", "D")  # evicts b, the least recently used
    assert reopened.get(req(original="b"), "m") is None
    assert reopened.get(req(original="a"), "m") == "A"
    assert [p.name for p in path.parent.iterdir()] == ["cache.json"]  # no temp files left behind


def test_smaller_capacity_on_reopen_keeps_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    cache = EditCache(path, capacity=3)
    for name in "abc":
        cache.put(req(original=name), "m", name.upper())
    reopened = EditCache(path, capacity=1)
    assert len(reopened) == 1
    assert reopened.get(req(original="c"), "m") == "C"


def test_corrupt_file_starts_empty_and_is_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    path.write_text("{not json")
    cache = EditCache(path)
    assert len(cache) == 0
    cache.put(req(), "m", "y")
    assert json.loads(path.read_text())["entries"]


def test_clear_removes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    cache = EditCache(path)
    cache.put(req(), "m", "y")
    cache.clear()
    assert not path.exists()
    assert cache.get(req(), "m") is None


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        EditCache(capacity=0)
