"""Lazy merges keep the file's layout: blank lines, comments and imports, in Python, JavaScript and Go.

The answers are written the way small models write them: markers glued to the code (or padded with
stray blank lines), changed blocks shown without the comment above them, an import line rewritten.
"""

from __future__ import annotations

from textwrap import dedent

import pytest

from decoding.lazy.merge import merge_lazy


def merge(original: str, answer: str, language: str) -> str:
    return merge_lazy(dedent(original), dedent(answer), language).text


# --- blank lines -----------------------------------------------------------------------------------------

PY = """\
    import os


    def load(path):
        return None


    class Player:
        name = ""

        def greet(self):
            return "hi"

        def leave(self):
            return "bye"


    def main():
        return Player()
    """


@pytest.mark.parametrize("pad", ["", "\n", "\n\n\n\n"])
def test_python_blocks_keep_the_original_blank_lines_whatever_the_padding_around_markers(pad):
    marker = "# ... existing code ..."
    answer = f"{marker}{pad}\ndef load(path):\n    return open(path).read(){pad}\n{marker}{pad}\n"
    assert merge(PY, answer, "python") == dedent(PY).replace("return None", "return open(path).read()")


def test_python_marker_inside_a_class_keeps_the_blank_lines_between_methods():
    answer = """\
        # ... existing code ...
        class Player:
            # ... existing code ...
            def leave(self):
                return "later"
        # ... existing code ...
    """
    assert merge(PY, answer, "python") == dedent(PY).replace('"bye"', '"later"')


def test_python_new_function_after_a_marker_gets_the_files_spacing_between_definitions():
    answer = "# ... existing code ...\ndef stop():\n    return 0\n"
    assert merge(PY, answer, "python") == dedent(PY) + "\n\ndef stop():\n    return 0\n"


def test_python_new_method_after_a_marker_gets_the_class_spacing():
    answer = """\
        # ... existing code ...
        class Player:
            # ... existing code ...
            def wave(self):
                return "o/"
        # ... existing code ...
    """
    expected = dedent(PY).replace('"bye"\n', '"bye"\n\n    def wave(self):\n        return "o/"\n')
    assert merge(PY, answer, "python") == expected


def test_python_file_with_one_blank_line_between_functions_keeps_that_style_for_new_ones():
    original = "def a():\n    return 1\n\ndef b():\n    return 2\n"
    answer = "# ... existing code ...\ndef c():\n    return 3\n"
    assert merge(original, answer, "python") == original + "\ndef c():\n    return 3\n"


def test_python_new_function_follows_pep8_where_the_file_shows_no_spacing_for_definitions():
    original = "import os\n\nLIMIT = 3\n"
    answer = "# ... existing code ...\ndef limit():\n    return LIMIT\n"
    assert merge(original, answer, "python") == original + "\n\ndef limit():\n    return LIMIT\n"


def test_python_new_statement_before_a_marker_keeps_the_answers_spacing_where_the_original_has_none():
    original = "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n"
    answer = "def f(xs):\n    if not xs:\n        raise ValueError()\n\n    # ... existing code ...\n"
    expected = "def f(xs):\n    if not xs:\n        raise ValueError()\n\n    total = 0\n"
    assert merge(original, answer, "python") == expected + original.split("total = 0\n", 1)[1]


JS = """\
    import { readFile } from "fs";

    function load(path) {
      return null;
    }

    class Player {
      greet() {
        return "hi";
      }

      leave() {
        return "bye";
      }
    }

    export function main() {
      return new Player();
    }
    """


def test_javascript_blocks_keep_the_original_blank_lines():
    answer = """\
        // ... existing code ...
        function load(path) {
          return readFile(path);
        }
        // ... existing code ...
    """
    assert merge(JS, answer, "javascript") == dedent(JS).replace("return null;", "return readFile(path);")


def test_javascript_marker_inside_a_class_with_stray_blank_lines():
    answer = """\
        // ... existing code ...

        class Player {

          // ... existing code ...


          leave() {
            return "later";
          }
        }


        // ... existing code ...
    """
    assert merge(JS, answer, "javascript") == dedent(JS).replace('"bye"', '"later"')


def test_javascript_new_function_after_a_marker_gets_the_files_spacing():
    answer = "// ... existing code ...\nfunction stop() {\n  return 0;\n}\n"
    assert merge(JS, answer, "javascript") == dedent(JS) + "\nfunction stop() {\n  return 0;\n}\n"


GO = """\
    package main

    import "fmt"

    func load() string {
    \treturn ""
    }

    type Player struct {
    \tName string
    }

    func main() {
    \tfmt.Println(load())
    }
    """


def test_go_blocks_keep_the_original_blank_lines():
    answer = '// ... existing code ...\nfunc load() string {\n\treturn "x"\n}\n// ... existing code ...\n'
    assert merge(GO, answer, "go") == dedent(GO).replace('return ""', 'return "x"')


def test_go_new_function_before_a_marker_gets_the_files_spacing_after_it():
    load = 'func load() string {\n\treturn ""\n}\n'
    answer = f"// ... existing code ...\n{load}\nfunc stop() {{\n}}\n// ... existing code ...\n"
    expected = dedent(GO).replace('return ""\n}\n', 'return ""\n}\n\nfunc stop() {\n}\n')
    assert merge(GO, answer, "go") == expected


# --- the end of the file ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "original", "marker"),
    [
        ("python", "def f():\n    return 1\n\n\n", "# ... existing code ..."),
        ("javascript", "function f() {\n  return 1;\n}\n\n", "// ... existing code ..."),
        ("go", "package p\n\nfunc f() int {\n\treturn 1\n}\n\n\n", "// ... existing code ..."),
    ],
)
@pytest.mark.parametrize("end", ["", "\n", "\n\n"])
def test_markers_only_answer_gives_back_the_file_with_its_trailing_blank_lines(
    language, original, marker, end
):
    assert merge_lazy(original, marker + end, language).text == original


def test_file_without_final_newline_stays_without_one_behind_a_trailing_marker():
    original = "def f():\n    return 1\n\n\ndef g():\n    return 2"
    answer = "def f():\n    return 10\n# ... existing code ...\n"
    assert merge_lazy(original, answer, "python").text == original.replace("return 1\n", "return 10\n")
