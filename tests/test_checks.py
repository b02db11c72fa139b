"""The proposal check: new syntax errors, unasked-for deletions, undefined names, no change."""

from __future__ import annotations

from decoding.checks import asks_to_remove, check_proposal, deleted_lines

INVENTORY = """class Inventory:
    def __init__(self):
        self.items = {}

    def add(self, name, count):
        self.items[name] = self.items.get(name, 0) + count

    def total(self):
        return sum(self.items.values())


def report(inv):
    return f"{len(inv.items)} items, {inv.total()} units"
"""


def kinds(original: str, proposal: str, path: str = "m.py", instruction: str = "rename add to put") -> list:
    return [(f.kind, f.line) for f in check_proposal(original, proposal, path, instruction)]


def test_a_clean_edit_has_no_findings():
    assert kinds(INVENTORY, INVENTORY.replace("def add", "def put")) == []


def test_identical_proposal_is_no_change():
    assert kinds(INVENTORY, INVENTORY) == [("no-change", None)]


def test_new_syntax_error_is_found_with_its_line():
    broken = INVENTORY.replace("def total(self):", "def total(self:")
    findings = check_proposal(INVENTORY, broken, "m.py", "x")
    assert [(f.kind, f.line) for f in findings] == [("syntax", 8)]
    assert "def total(self:" in findings[0].message


def test_syntax_errors_already_in_the_original_are_not_blamed_on_the_model():
    original = "def f(:\n    pass\n\nx = 1\n"
    assert kinds(original, original.replace("x = 1", "x = 2")) == []
    assert kinds(original, "\n" + original.replace("x = 1", "y = (")) == [("syntax", 5)]


def test_syntax_is_checked_for_other_languages_and_skipped_for_unknown_ones():
    js = "function f() {\n  return 1;\n}\n"
    assert kinds(js, js.replace("return 1;", "return (1;"), path="a.js") == [("syntax", 2)]
    assert kinds("a b c\n", "a ( c\n", path="notes.txt") == []


def test_class_replaced_by_functions_using_an_undefined_name():
    """The issue's first report: the class is gone but `report` still calls into it via `Inventory`."""
    proposal = INVENTORY.replace("class Inventory:", "class Stock:") + "\n\nstore = Inventory()\n"
    assert kinds(INVENTORY, proposal) == [("names", 16)]


def test_removed_definition_still_used_and_names_never_defined():
    original = "def helper():\n    return 1\n\n\ndef main():\n    return helper()\n"
    proposal = "def main():\n    return helper() + undefined_thing\n"
    found = check_proposal(original, proposal, "m.py", "inline helper")
    names = sorted(f.message for f in found if f.kind == "names")
    assert names == ["undefined name 'helper'", "undefined name 'undefined_thing'"]


def test_names_the_original_already_lacked_are_not_findings():
    original = "x = missing + 1\n"
    assert kinds(original, "x = missing + 2\n") == []


def test_large_deletion_is_a_finding_unless_the_instruction_asks_to_remove():
    """The issue's second report: "rename a method" deleted a whole class."""
    proposal = INVENTORY[INVENTORY.index("def report") :]
    found = check_proposal(INVENTORY, proposal, "m.py", "rename total to sum")
    assert [f.kind for f in found if f.kind == "deletion"] == ["deletion"]
    assert "11 of the file's 13 lines" in next(f.message for f in found if f.kind == "deletion")
    removal = check_proposal(INVENTORY, proposal, "m.py", "remove the Inventory class")
    assert [f.kind for f in removal if f.kind == "deletion"] == []


def test_rewriting_lines_is_not_deleting_them():
    original = "a = 1\nb = 2\nc = 3\nd = 4\n"
    assert deleted_lines(original, "a = 10\nb = 20\nc = 30\nd = 40\n") == 0
    assert deleted_lines(original, "a = 1\n") == 3
    assert kinds(original, "a = 10\nb = 20\nc = 30\nd = 40\n", instruction="multiply by 10") == []


def test_prose_in_place_of_the_file_is_flagged():
    found = kinds(INVENTORY, "I'm sorry, but I can't help with that.\n", instruction="add type hints")
    assert ("deletion", None) in found and ("syntax", 1) in found


def test_many_errors_are_capped_with_a_count():
    original = "".join(f"x{i} = {i}\n" for i in range(10))
    proposal = "".join(f"x{i} = y{i}\n" for i in range(10))
    found = check_proposal(original, proposal, "m.py", "x")
    assert len(found) == 6 and found[-1].message == "and 5 more like these"


def test_removal_words():
    assert asks_to_remove("Delete the unused imports") and asks_to_remove("clean up main")
    assert not asks_to_remove("rename a method") and not asks_to_remove("add type hints")
