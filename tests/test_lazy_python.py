"""Hand-written lazy merges in Python: the language with the most ways to attach code to a block."""

from __future__ import annotations

from textwrap import dedent

import pytest

from decoding.lazy.merge import SUPPORTED_LANGUAGES, MergeRefused, is_lazy_answer, merge_lazy


def merge(original: str, answer: str) -> str:
    return merge_lazy(dedent(original), dedent(answer), "python").text


ORIGINAL = '''\
    """Shapes."""

    import math


    # Helpers ------------------------------------------------------------


    def area(r):
        return math.pi * r * r


    @cache
    def perimeter(r):
        return 2 * math.pi * r


    class Circle:
        """A circle."""

        def __init__(self, r):
            self.r = r

        # size
        def area(self):
            return area(self.r)

        @property
        def diameter(self):
            return 2 * self.r

        @diameter.setter
        def diameter(self, d):
            self.r = d / 2


    def main():
        print(Circle(1).area())


    if __name__ == "__main__":
        main()
'''


def test_changed_function_between_markers_keeps_everything_else():
    answer = """\
        # ... existing code ...


        def area(r):
            return math.pi * r**2


        # ... existing code ...
    """
    expected = dedent(ORIGINAL).replace("math.pi * r * r", "math.pi * r**2")
    assert merge(ORIGINAL, answer) == expected


def test_rename_inside_a_class_merges_into_the_original_class():
    answer = """\
        # ... existing code ...


        class Circle:
            # ... existing code ...

            def __init__(self, radius):
                self.r = radius

            # ... existing code ...


        # ... existing code ...
    """
    expected = (
        dedent(ORIGINAL)
        .replace("def __init__(self, r):", "def __init__(self, radius):")
        .replace("self.r = r\n", "self.r = radius\n")
    )
    assert merge(ORIGINAL, answer) == expected


def test_new_method_at_the_end_of_a_class_with_markers_written_flush():
    answer = """\
        # ... existing code ...
        class Circle:
            # ... existing code ...

            def scale(self, k):
                return Circle(self.r * k)
        # ... existing code ...
    """
    new_method = "\n    def scale(self, k):\n        return Circle(self.r * k)\n"
    # the markers touch the class: the original blank lines around it are kept
    expected = dedent(ORIGINAL).replace("self.r = d / 2\n", "self.r = d / 2\n" + new_method)
    assert merge(ORIGINAL, answer) == expected


def test_new_top_level_function_goes_after_its_predecessor():
    answer = """\
        # ... existing code ...


        @cache
        def perimeter(r):
            return 2 * math.pi * r


        def volume(r):
            return 4 / 3 * math.pi * r**3


        # ... existing code ...
    """
    out = merge(ORIGINAL, answer)
    assert (
        "return 2 * math.pi * r\n\n\ndef volume(r):\n    return 4 / 3 * math.pi * r**3\n\n\nclass Circle:"
        in out
    )
    assert out.replace("def volume(r):\n    return 4 / 3 * math.pi * r**3\n\n\n", "") == dedent(ORIGINAL)


def test_new_function_placed_before_its_successor():
    original = """\
        # Helpers
        def a():
            return 1


        def b():
            return 2
    """
    answer = """\
        def helper():
            return 0


        # Helpers
        def a():
            return 1


        # ... existing code ...
    """
    assert merge(original, answer) == "def helper():\n    return 0\n\n\n" + dedent(original)


def test_deleted_function_between_two_anchors():
    answer = """\
        # ... existing code ...


        def area(r):
            return math.pi * r * r


        class Circle:
            # ... existing code ...


        # ... existing code ...
    """
    assert merge(ORIGINAL, answer) == dedent(ORIGINAL).replace(
        "@cache\ndef perimeter(r):\n    return 2 * math.pi * r\n\n\n", ""
    )


def test_deleted_function_at_the_end_when_no_marker_follows():
    original = """\
        def a():
            return 1


        def b():
            return 2


        def c():
            return 3


        def d():
            return 4
    """
    answer = """\
        # ... existing code ...


        def c():
            return 3
    """
    assert merge(original, answer) == dedent(original).split("\n\n\ndef d")[0] + "\n"


def test_decorators_travel_with_their_function():
    answer = """\
        # ... existing code ...


        @cache
        def perimeter(r):
            return math.tau * r


        # ... existing code ...
    """
    assert merge(ORIGINAL, answer) == dedent(ORIGINAL).replace("2 * math.pi * r\n", "math.tau * r\n")


def test_changed_decorator_still_matches_by_name():
    answer = """\
        # ... existing code ...


        @lru_cache(maxsize=None)
        def perimeter(r):
            return 2 * math.pi * r


        # ... existing code ...
    """
    assert merge(ORIGINAL, answer) == dedent(ORIGINAL).replace("@cache\n", "@lru_cache(maxsize=None)\n")


def test_property_setter_and_getter_are_told_apart_by_their_decorators():
    answer = """\
        # ... existing code ...
        class Circle:
            # ... existing code ...

            @diameter.setter
            def diameter(self, d):
                if d < 0:
                    raise ValueError(d)
                self.r = d / 2
        # ... existing code ...
    """
    out = merge(ORIGINAL, answer)
    assert out == dedent(ORIGINAL).replace(
        "def diameter(self, d):\n        self.r",
        "def diameter(self, d):\n        if d < 0:\n            raise ValueError(d)\n        self.r",
    )


def test_comments_between_blocks_are_kept_and_attached_comments_travel():
    answer = """\
        # ... existing code ...
        class Circle:
            # ... existing code ...

            # size, in square units
            def area(self):
                return area(self.r)

            # ... existing code ...
        # ... existing code ...
    """
    out = merge(ORIGINAL, answer)
    assert out == dedent(ORIGINAL).replace("    # size\n", "    # size, in square units\n")
    assert "# Helpers ---" in out


def test_answer_without_markers_is_the_whole_file():
    whole = dedent(ORIGINAL).replace("main()\n", "main()  # entry\n")
    assert merge(ORIGINAL, whole) == whole


def test_moved_block_is_not_repeated_by_a_marker():
    original = "".join(f"def {n}():\n    return {i}\n\n\n" for i, n in enumerate("abcde"))
    answer = "def a():\n    return 0\n\n\ndef d():\n    return 3\n\n\ndef b():\n    return 1\n\n\n# ...\n"
    expected = "".join(f"def {n}():\n    return {'abcde'.index(n)}\n\n\n" for n in "adbce")
    assert merge_lazy(original, answer, "python").text == expected  # the trailing blank lines too


def test_marker_after_a_single_block_stands_for_what_follows_it():
    original = "def a():\n    return 1\n\n\ndef b():\n    return 2\n\n\ndef c():\n    return 3\n"
    answer = "def b():\n    return 20\n\n\n# ... existing code ...\n"
    # `a` is before the first anchor with no marker: deleted (and that is within the 30 % limit)
    assert (
        merge_lazy(original, answer, "python").text == "def b():\n    return 20\n\n\ndef c():\n    return 3\n"
    )


def test_class_header_changed_with_marker_only_body():
    original = """\
        class A:
            x = 1

            def f(self):
                return self.x
    """
    answer = """\
        class A(Base):
            # ... existing code ...
    """
    assert merge(original, answer) == dedent(original).replace("class A:", "class A(Base):")


def test_method_body_marker_merges_two_levels_down():
    original = """\
        class A:
            def f(self, xs):
                total = 0
                for x in xs:
                    total += x
                return total
    """
    answer = """\
        class A:
            def f(self, xs):
                # ... existing code ...
                return total / len(xs)
    """
    assert merge(original, answer) == dedent(original).replace("return total\n", "return total / len(xs)\n")


@pytest.mark.parametrize(
    "marker",
    [
        "# ... existing code ...",
        "# ...",
        "# ... rest unchanged ...",
        "# …",
        "# rest of the file ...",
        "#...existing code...",
    ],
)
def test_marker_variants(marker):
    original = "import os\n\n\ndef f():\n    return 1\n"
    answer = f"{marker}\n\n\ndef f():\n    return 2\n"
    assert is_lazy_answer(answer, "python")
    assert merge_lazy(original, answer, "python").text == "import os\n\n\ndef f():\n    return 2\n"


def test_ordinary_comments_are_not_markers():
    for text in (
        "# see the docs...",
        "# TODO: more tests",
        "# wait... why",
        "x = 1  # ... existing code ...",
    ):
        assert not is_lazy_answer(text + "\n", "python"), text


def test_trailing_newline_follows_the_answer():
    original = "def f():\n    return 1\n\n\ndef g():\n    return 2"
    answer = "def f():\n    return 3\n\n\n# ... existing code ..."
    assert merge_lazy(original, answer, "python").text == "def f():\n    return 3\n\n\ndef g():\n    return 2"


def test_module_assignment_matched_by_name():
    original = "A = 1\nB = 2\nC = 3\n\n\ndef f():\n    return A\n"
    answer = "# ... existing code ...\nB = 20\n# ... existing code ...\n"
    assert merge_lazy(original, answer, "python").text == original.replace("B = 2\n", "B = 20\n")


# --- refusals --------------------------------------------------------------------------------


def refusal(original: str, answer: str, language: str = "python") -> str:
    with pytest.raises(MergeRefused) as info:
        merge_lazy(dedent(original), dedent(answer), language)
    return info.value.reason


def test_refuses_an_answer_that_does_not_parse():
    reason = refusal(ORIGINAL, "# ... existing code ...\n\ndef area(r:\n    return 1\n")
    assert "answer does not parse" in reason and "line" in reason


def test_refuses_an_original_that_does_not_parse():
    assert "original file does not parse" in refusal("def f(:\n", "# ...\ndef g():\n    pass\n")


def test_refuses_deleting_more_than_30_percent():
    answer = """\
        def area(r):
            return math.pi * r**2
    """
    reason = refusal(ORIGINAL, answer)
    assert "delete" in reason and "30%" in reason


def test_refuses_duplicate_names_without_a_disambiguating_hash():
    original = """\
        def f():
            return 1


        def g():
            return 0


        def f():
            return 2
    """
    answer = """\
        # ... existing code ...
        def f():
            return 3
        # ... existing code ...
    """
    assert "ambiguous" in refusal(original, answer) and "`f`" in refusal(original, answer)


def test_duplicate_names_resolved_by_identical_text_and_position():
    original = "def f():\n    return 1\n\n\ndef g():\n    return 0\n\n\ndef f():\n    return 2\n"
    answer = "def f():\n    return 1\n\n\n# ... existing code ...\n"
    assert merge_lazy(original, answer, "python").text == original


def test_refuses_new_block_between_markers_that_share_the_same_code():
    original = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"
    answer = "# ... existing code ...\n\n\ndef new():\n    pass\n\n\n# ... existing code ...\n"
    assert "ambiguous" in refusal(original, answer)


def test_refuses_marker_inside_a_new_block():
    original = "def a():\n    return 1\n"
    answer = "def a():\n    return 1\n\n\ndef b():\n    # ... existing code ...\n    return 2\n"
    assert "matches no block" in refusal(original, answer)


def test_refuses_marker_inside_an_expression():
    original = "X = [\n    1,\n    2,\n]\n"
    answer = "X = [\n    1,\n    // ...\n]\n"
    assert "cannot be expanded" in refusal(original, answer, "javascript")


def test_refuses_unsupported_language():
    reason = refusal("a\n", "# ...\n", "ruby")
    assert "ruby" in reason and "python" in reason
    assert "python" in SUPPORTED_LANGUAGES and "ruby" not in SUPPORTED_LANGUAGES


def test_marker_looking_line_inside_a_string_is_text():
    docstring = '    """Usage:\n\n    # ... existing code ...\n    """\n'
    original = "def f():\n" + docstring + "    return 1\n\n\ndef g():\n    return 2\n"
    answer = original.replace("return 1", "return 10").replace("def g():\n    return 2\n", "# ...\n")
    assert merge_lazy(original, answer, "python").text == original.replace("return 1", "return 10")


def test_form_feed_and_line_separator_in_a_string_keep_rows_aligned():
    original = 'def f():\n    return "a\x0cb\u2028c"\n\n\ndef g():\n    return 2\n'
    answer = "# ... existing code ...\n\n\ndef g():\n    return 3\n"
    assert merge_lazy(original, answer, "python").text == original.replace("return 2", "return 3")
