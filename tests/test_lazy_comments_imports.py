"""Lazy merges keep comments where they belong and let a rewritten import replace the original line."""

from __future__ import annotations

from textwrap import dedent

import pytest

from decoding.lazy.merge import merge_lazy


def merge(original: str, answer: str, language: str) -> str:
    return merge_lazy(dedent(original), dedent(answer), language).text


# --- comments ---------------------------------------------------------------------------------------------

COMMENTED = {
    "python": (
        """\
        import json

        # data
        ROWS = [1, 2]


        def total():
            return sum(ROWS)
        """,
        "# ... existing code ...\nROWS = [1, 2, 3]\n# ... existing code ...\n",
        ("ROWS = [1, 2]", "ROWS = [1, 2, 3]"),
    ),
    "javascript": (
        """\
        import fs from "fs";

        // data, in display order
        const ROWS = [1, 2];

        export function total() {
          return ROWS.length;
        }
        """,
        "// ... existing code ...\nconst ROWS = [1, 2, 3];\n// ... existing code ...\n",
        ("[1, 2];", "[1, 2, 3];"),
    ),
    "go": (
        """\
        package rows

        // Rows lists the data in display order.
        // It never shrinks.
        var Rows = []int{1, 2}

        func Total() int {
        \treturn len(Rows)
        }
        """,
        "// ... existing code ...\nvar Rows = []int{1, 2, 3}\n// ... existing code ...\n",
        ("{1, 2}", "{1, 2, 3}"),
    ),
}


@pytest.mark.parametrize("language", sorted(COMMENTED))
def test_comment_above_a_block_travels_with_it_when_the_answer_skips_it(language):
    original, answer, (old, new) = COMMENTED[language]
    assert merge(original, answer, language) == dedent(original).replace(old, new)


def test_comment_the_answer_rewrites_replaces_the_original_one():
    original, _, _ = COMMENTED["python"]
    answer = "# ... existing code ...\n# data, sorted\nROWS = [1, 2, 3]\n# ... existing code ...\n"
    expected = dedent(original).replace("# data\nROWS = [1, 2]", "# data, sorted\nROWS = [1, 2, 3]")
    assert merge(original, answer, "python") == expected


def test_comment_left_out_right_below_code_the_answer_wrote_is_dropped():
    """The answer wrote the line above the block, so leaving the comment out was its choice."""
    original = "x = 1\n# note\ny = 2\nz = 3\n"
    answer = "x = 10\ny = 20\n# ... existing code ...\n"
    assert merge_lazy(original, answer, "python").text == "x = 10\ny = 20\nz = 3\n"


@pytest.mark.parametrize(
    ("language", "original", "answer"),
    [
        (
            "python",
            "def a():\n    return 1\n\n\n# --- helpers ---\n\n\ndef b():\n    return 2\n",
            "# ... existing code ...\ndef b():\n    return 3\n",
        ),
        (
            "javascript",
            "function a() {\n  return 1;\n}\n\n// --- helpers ---\n\nfunction b() {\n  return 2;\n}\n",
            "// ... existing code ...\nfunction b() {\n  return 3;\n}\n",
        ),
        (
            "go",
            "package p\n\nfunc a() int {\n\treturn 1\n}\n\n// --- helpers ---\n\n"
            "func b() int {\n\treturn 2\n}\n",
            "// ... existing code ...\nfunc b() int {\n\treturn 3\n}\n",
        ),
    ],
)
def test_comment_between_blocks_stays_where_it_was(language, original, answer):
    assert merge_lazy(original, answer, language).text == original.replace("return 2", "return 3")


# --- imports ----------------------------------------------------------------------------------------------


def test_python_changed_from_import_replaces_the_original_at_the_answers_position():
    original = """\
        import os
        from typing import List, Union


        def f(x: List[int]) -> Union[int, str]:
            return 1
        """
    answer = """\
        # ... existing code ...
        from typing import Dict, List, Union
        # ... existing code ...
        def g() -> Dict[str, int]:
            return {}
        """
    expected = """\
        import os
        from typing import Dict, List, Union


        def f(x: List[int]) -> Union[int, str]:
            return 1


        def g() -> Dict[str, int]:
            return {}
        """
    assert merge(original, answer, "python") == dedent(expected)


def test_python_import_with_an_alias_matches_its_module():
    original = "import numpy\nimport os\n\nX = numpy.zeros(3)\n"
    answer = "import numpy as np\n# ... existing code ...\nX = np.zeros(3)\n"
    assert merge_lazy(original, answer, "python").text == "import numpy as np\nimport os\n\nX = np.zeros(3)\n"


def test_python_imports_of_one_module_merged_into_one_line_are_not_refused():
    original = (
        "from collections import deque\nfrom collections import Counter\n\n\ndef f():\n    return deque()\n"
    )
    answer = "from collections import Counter, deque\n# ... existing code ...\n"
    merged = merge_lazy(original, answer, "python").text
    assert merged == original.replace("import deque\n", "import Counter, deque\n", 1)


def test_javascript_changed_import_replaces_the_original():
    original = (
        "import fs from 'fs';\nimport { a } from './util';\n\nexport function f() {\n  return a();\n}\n"
    )
    answer = '// ... existing code ...\nimport { a, b } from "./util";\n// ... existing code ...\n'
    expected = original.replace("import { a } from './util';", 'import { a, b } from "./util";')
    assert merge_lazy(original, answer, "javascript").text == expected


def test_go_single_import_becomes_a_group():
    original = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hi")\n}\n'
    answer = '// ... existing code ...\nimport (\n\t"fmt"\n\t"os"\n)\n// ... existing code ...\n'
    expected = original.replace('import "fmt"\n', 'import (\n\t"fmt"\n\t"os"\n)\n')
    assert merge_lazy(original, answer, "go").text == expected
