"""Fault drills on the edit cache and the edit log: damage costs a warning, never an edit."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from app.apply import apply_proposal
from common.atomic import read_text
from decoding.events import Stats
from decoding.personal.cache import EditCache
from decoding.personal.log import EditLog, EditRecord
from decoding.request import EditRequest
from decoding.session import Proposal
from tests.gitrepo import git, isolate_git, make_repo
from vcs.repo import EditMeta, EditRepo, VcsError

REQUEST = EditRequest(path="f.py", original="one\ntwo\n", instruction="shout")
TORN = '{"request": {"path": "a.py", "original": "caf\xc3'.encode("latin-1")  # cut inside a UTF-8 é


@pytest.fixture(autouse=True)
def no_git_identity(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git(monkeypatch, tmp_path_factory.mktemp("home"))


def record(n: int) -> EditRecord:
    request = EditRequest(path="a.py", original="x" * 50, instruction=f"edit {n}")
    return EditRecord.create(request, raw=f"raw {n}", accepted=f"out {n}", method="lookup", model="m")


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe not utf-8",
        b'{"version": 1, "entries": "a string"}',
        b'{"version": 1, "entries": [1, 2, 3]}',
        b'{"version": 1, "entries": [["key", {"not": "text"}], ["a", "b", "c"]]}',
        b'["a list"]',
    ],
)
def test_a_damaged_cache_is_a_warning_and_an_empty_cache(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        cache = EditCache(path)
    assert len(cache) == 0
    assert "edit cache" in caplog.text
    cache.put(REQUEST, "m", "ONE\n")  # and it heals on the next write
    assert EditCache(path).get(REQUEST, "m") == "ONE\n"


def test_damaged_entries_are_dropped_and_good_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    EditCache(path).put(REQUEST, "m", "ONE\n")
    data = json.loads(path.read_text())
    data["entries"].insert(0, ["broken", 42])
    path.write_text(json.dumps(data))
    cache = EditCache(path)
    assert len(cache) == 1 and cache.get(REQUEST, "m") == "ONE\n"


def test_a_cache_folder_that_cannot_be_entered_costs_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file"  # a file where the folder should be: ENOTDIR, for root too
    blocked.write_text("")
    with caplog.at_level(logging.WARNING):
        cache = EditCache(blocked / "edits" / "cache.json")
        cache.put(REQUEST, "m", "ONE\n")
        assert cache.get(REQUEST, "m") == "ONE\n"  # still works in memory
    assert "could not write the edit cache" in caplog.text


def test_a_torn_line_in_the_log_is_skipped_and_trimmed_away(tmp_path: Path) -> None:
    path = tmp_path / "edits.jsonl"
    one = len(record(0).to_json().encode()) + 1
    log = EditLog(path, max_bytes=3 * one + one // 2)
    log.append(record(1))
    with path.open("ab") as f:
        f.write(TORN)  # a killed writer, cut mid-character and mid-line
    assert [r.accepted for r in log.records()] == ["out 1"]
    for n in range(2, 6):
        assert log.append(record(n))  # appending past the cap trims through the torn line
    assert [r.accepted for r in log.records()] == ["out 3", "out 4", "out 5"]
    assert path.stat().st_size <= 3 * one + one // 2
    path.read_bytes().decode("utf-8")  # nothing undecodable is kept


def test_a_damaged_log_and_cache_never_cost_the_edit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = make_repo(tmp_path)
    log_path = root / ".git" / "specedit" / "edits.jsonl"
    log_path.parent.mkdir(parents=True)
    log_path.write_bytes(TORN * 3000)  # one huge torn line, over the log's cap
    cache_path = tmp_path / "cache.json"
    cache_path.write_text('{"version": 1, "entries": [[1, 2]]}')
    meta = EditMeta(
        model="m via http://u:KEY@h/v1", method="lookup", new_tokens=1, chars_per_s=1, tokens_per_s=1
    )
    proposal = Proposal("ONE\ntwo\n", "ONE\ntwo\n", "whole", Stats(new_tokens=1))
    with caplog.at_level(logging.WARNING), EditRepo.open(root) as repo:
        cache = EditCache(cache_path)
        for n in range(2):  # every later edit works too
            request = EditRequest(path="f.py", original=read_text(root / "f.py"), instruction=f"edit {n}")
            new_text = f"{n}\n"
            sha = apply_proposal(repo, root / "f.py", request, proposal, new_text, meta, cache)
            assert git(root, "rev-parse", "HEAD").strip() == sha
    assert read_text(root / "f.py") == "1\n"
    records = EditLog(log_path).records()
    assert [r.accepted for r in records] == ["0\n", "1\n"]
    assert all("KEY" not in r.model and "http" not in r.model for r in records)


def test_apply_proposal_refused_for_a_changed_file_commits_no_work_in_progress(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    (root / "f.py").write_text("work\n")
    request = EditRequest(path="f.py", original="work\n", instruction="x")
    (root / "f.py").write_text("more work\n")
    before = git(root, "rev-parse", "HEAD")
    meta = EditMeta(model="m", method="lookup", new_tokens=1, chars_per_s=1, tokens_per_s=1)
    proposal = Proposal("X\n", "X\n", "whole", Stats(new_tokens=1))
    with EditRepo.open(root) as repo, pytest.raises(VcsError, match="changed on disk"):
        apply_proposal(repo, root / "f.py", request, proposal, "X\n", meta, None)
    assert git(root, "rev-parse", "HEAD") == before
