"""Editing a region: line ranges and symbols, the region request, the splice, and ``specedit edit``.

The splice is property-tested on arbitrary texts (any line endings, with or without a final newline):
everything outside the region must come back byte for byte, whatever the model answers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.cli import main
from common.errors import ExitCode, UsageError
from decoding.lazy.blocks import split_lines
from decoding.selection import (
    Selection,
    definitions,
    enclosing_selection,
    parse_target,
    propose_selection,
    symbol_selection,
)
from decoding.session import Proposal
from tests.scripted_backend import ScriptedBackend

INVENTORY = Path(__file__).resolve().parent.parent / "examples" / "inventory.py"
CODE = INVENTORY.read_text()

line_texts = st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=12)
endings = st.sampled_from(["\n", "\r\n"])


@st.composite
def texts_and_ranges(draw: st.DrawFn) -> tuple[str, int, int]:
    lines = draw(st.lists(st.tuples(line_texts, endings), min_size=1, max_size=30))
    text = "".join(body + end for body, end in lines)
    if draw(st.booleans()):
        text = text[: -len(lines[-1][1])]  # no final newline
    count = len(split_lines(text))  # an empty last line without its newline is no line at all
    first = draw(st.integers(1, max(count, 1)))
    return text, first, draw(st.integers(first, max(count, 1)))


@given(texts_and_ranges())
def test_splicing_the_region_back_gives_the_file(case: tuple[str, int, int]) -> None:
    text, first, last = case
    selection = Selection(text, first, last)
    assert selection.splice(selection.region) == text
    assert text[: selection.start] + selection.region + text[selection.end :] == text
    assert selection.region.count("\n") in (last - first, last - first + 1)


@given(texts_and_ranges(), st.lists(st.tuples(line_texts, endings), max_size=5))
def test_splice_changes_only_the_region(case: tuple[str, int, int], new_lines: list[tuple[str, str]]) -> None:
    text, first, last = case
    selection = Selection(text, first, last)
    new_region = "".join(body + end for body, end in new_lines)
    result = selection.splice(new_region)
    assert result.startswith(text[: selection.start])
    assert result.endswith(text[selection.end :])
    middle = result[selection.start : len(result) - (len(text) - selection.end)]
    assert middle.rstrip("\r\n") == new_region.rstrip("\r\n")
    if selection.end < len(text) and new_region:  # the next line never joins the new region's last one
        assert middle.endswith("\n")


def test_context_lines_surround_the_region() -> None:
    text = "".join(f"line {n}\n" for n in range(1, 11))
    selection = Selection(text, 5, 6, context_lines=2)
    assert (selection.before, selection.region, selection.after) == (
        "line 3\nline 4\n",
        "line 5\nline 6\n",
        "line 7\nline 8\n",
    )
    request = selection.request("notes.py", "number the lines")
    assert request.original == "line 5\nline 6\n"
    assert request.instruction.startswith("number the lines\n")
    assert "line 3\nline 4\n" in request.instruction and "line 7\nline 8\n" in request.instruction
    assert "lines 5-6 of `notes.py`" in request.instruction
    assert "line 2" not in request.instruction and "line 9" not in request.instruction


@pytest.mark.parametrize(("first", "last"), [(0, 1), (3, 2), (11, 11), (1, 12)])
def test_ranges_outside_the_file_are_usage_errors(first: int, last: int) -> None:
    with pytest.raises(UsageError, match="10 lines"):
        Selection("x\n" * 10, first, last)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("big.py:10-20", ("big.py", (10, 20))),
        ("dir/big.py:7", ("dir/big.py", (7, 7))),
        ("big.py", ("big.py", None)),
        ("a:b.py", ("a:b.py", None)),
    ],
)
def test_file_and_line_range(spec: str, expected: tuple[str, tuple[int, int] | None]) -> None:
    assert parse_target(spec) == expected


def test_backwards_range_is_refused() -> None:
    with pytest.raises(UsageError, match="bad line range"):
        parse_target("big.py:20-10")


# --- symbols -----------------------------------------------------------------------------------------


def test_definitions_are_found_nested_with_their_lines() -> None:
    found = definitions(CODE, "inventory.py")
    names = [name for name, _, _ in found]
    assert names == [
        "Inventory",
        "Inventory.__init__",
        "Inventory.add",
        "Inventory.remove",
        "Inventory.total",
        "Inventory.to_json",
        "load",
    ]
    lines = CODE.splitlines()
    for name, first, last in found:
        assert lines[first - 1].lstrip().startswith(("def ", "class ")), name
        assert name.split(".")[-1] in lines[first - 1]
        assert last >= first


def test_symbol_by_short_or_dotted_name() -> None:
    selection = symbol_selection(CODE, "inventory.py", "total")
    assert selection == symbol_selection(CODE, "inventory.py", "Inventory.total")
    assert selection.region == "    def total(self):\n        return sum(self.items.values())\n"
    assert selection.describe().startswith("Inventory.total (lines ")


def test_decorators_travel_with_their_function() -> None:
    code = "import functools\n\n\n@functools.cache\ndef f(x):\n    return x\n"
    assert symbol_selection(code, "m.py", "f").region == "@functools.cache\ndef f(x):\n    return x\n"


def test_unknown_and_ambiguous_symbols_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="no function or class named 'nope'") as err:
        symbol_selection(CODE, "inventory.py", "nope")
    assert "Inventory.total" in (err.value.hint or "")
    code = "class A:\n    def run(self):\n        pass\n\n\nclass B:\n    def run(self):\n        pass\n"
    with pytest.raises(UsageError, match="2 definitions"):
        symbol_selection(code, "m.py", "run")
    assert symbol_selection(code, "m.py", "B.run").first == 7


def test_enclosing_definition_of_a_line() -> None:
    inside_total = CODE.splitlines().index("        return sum(self.items.values())") + 1
    picked = enclosing_selection(CODE, "inventory.py", inside_total)
    assert picked is not None and picked.symbol == "Inventory.total"
    assert enclosing_selection(CODE, "inventory.py", 1) is None  # the module docstring
    assert enclosing_selection("no definitions here\n", "notes.txt", 1) is None


# --- the region edit, end to end with a scripted model ----------------------------------------------


def test_region_answer_is_spliced_and_checked_on_the_whole_file() -> None:
    selection = symbol_selection(CODE, "inventory.py", "total")
    new_region = "    def count_all(self):\n        return sum(self.items.values())\n"
    backend = ScriptedBackend([new_region + "```\n"])
    events = list(propose_selection(backend, selection, "inventory.py", "rename total to count_all"))
    (proposal,) = [e for e in events if isinstance(e, Proposal)]
    assert proposal.new_text == CODE.replace("def total(self)", "def count_all(self)")
    assert proposal.findings == ()  # an indented method alone would not parse; the whole file does
    (request,) = backend.requests
    assert request.original == selection.region
    assert "def remove(self, name, count)" not in request.original
    assert "del self.items[name]" in request.instruction  # context before the region


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q")
    (work / "inventory.py").write_text(CODE)
    git(work, "add", "inventory.py")
    git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return work


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedBackend:
    backend = ScriptedBackend([])
    monkeypatch.setattr("app.backends.make_backend", lambda *args, **kwargs: backend)
    return backend


def test_cli_line_range_edits_only_those_lines(repo: Path, scripted: ScriptedBackend, capsys) -> None:
    first = CODE.splitlines().index("    def total(self):") + 1
    scripted.answers[:] = ["    def count_all(self):\n        return sum(self.items.values())\n```\n"]
    target = f"{repo / 'inventory.py'}:{first}-{first + 1}"
    assert main(["edit", target, "-m", "rename total to count_all", "--yes"]) == ExitCode.OK
    assert (repo / "inventory.py").read_text() == CODE.replace("def total(", "def count_all(")
    assert scripted.requests[0].original == "    def total(self):\n        return sum(self.items.values())\n"
    assert "-    def total(self):" in capsys.readouterr().out
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "2"


def test_cli_symbol_edits_the_function(repo: Path, scripted: ScriptedBackend) -> None:
    scripted.answers[:] = [
        'def load(text: str) -> "Inventory":\n' + CODE.split("def load(text):\n")[1] + "```\n"
    ]
    assert main(["edit", str(repo / "inventory.py"), "--symbol", "load", "-m", "type hints", "--yes"]) == 0
    assert (repo / "inventory.py").read_text() == CODE.replace(
        "def load(text):", 'def load(text: str) -> "Inventory":'
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--symbol", "missing"], "no function or class named 'missing'"),
        (["--symbol", "load", ":3-4"], "not both"),
        ([":40-50"], "not inside the file"),
    ],
)
def test_cli_bad_region_exits_2_before_loading_a_model(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys, extra: list[str], message: str
) -> None:
    monkeypatch.setattr("app.backends.make_backend", lambda *a, **k: pytest.fail("model loaded"))
    file = str(repo / "inventory.py")
    if extra[-1].startswith(":"):
        file, extra = file + extra[-1], extra[:-1]
    assert main(["edit", file, "-m", "x", *extra]) == ExitCode.USAGE
    assert message in capsys.readouterr().err
    assert (repo / "inventory.py").read_text() == CODE
