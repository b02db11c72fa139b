"""Hand-written lazy merges in the brace languages and CSS."""

from __future__ import annotations

from textwrap import dedent

import pytest

from decoding.lazy.merge import MergeRefused, is_lazy_answer, merge_lazy


def merge(original: str, answer: str, language: str) -> str:
    return merge_lazy(dedent(original), dedent(answer), language).text


# --- JavaScript / TypeScript -------------------------------------------------------------------------

JS = """\
    import { api } from "./api.js";

    // Helpers -----------------------------------------------------------

    export function total(items) {
      return items.reduce((a, b) => a + b, 0);
    }

    const double = (x) => {
      return x * 2;
    };

    class Cart {
      constructor() {
        this.items = [];
      }

      /** Adds one item. */
      add(item) {
        this.items.push(item);
      }

      clear() {
        this.items = [];
      }
    }

    export default Cart;
"""


def test_js_method_changed_inside_class_with_markers():
    answer = """\
        // ... existing code ...

        class Cart {
          // ... existing code ...

          /** Adds one item. */
          add(item) {
            if (item == null) return;
            this.items.push(item);
          }

          // ... existing code ...
        }

        // ... existing code ...
    """
    expected = dedent(JS).replace("add(item) {\n", "add(item) {\n    if (item == null) return;\n")
    assert merge(JS, answer, "javascript") == expected


def test_js_new_top_level_function_after_its_predecessor_and_block_comment_marker():
    answer = """\
        /* ... existing code ... */

        const double = (x) => {
          return x * 2;
        };

        function triple(x) {
          return x * 3;
        }

        /* ... existing code ... */
    """
    expected = dedent(JS).replace("};\n\nclass", "};\n\nfunction triple(x) {\n  return x * 3;\n}\n\nclass")
    assert merge(JS, answer, "javascript") == expected


def test_js_arrow_function_body_and_exported_function_matched_by_name():
    answer = """\
        // ... existing code ...

        function total(items) {
          return items.reduce((a, b) => a + b, 1);
        }

        const double = (x) => {
          // ... existing code ...
          return x + x;
        };

        // ... existing code ...
    """
    out = merge(JS, answer, "javascript")
    assert "\nfunction total(items) {\n  return items.reduce((a, b) => a + b, 1);\n}\n" in out
    assert "export function" not in out  # the answer dropped `export`: it says so
    assert "return x + x;" in out and "return x * 2;" not in out
    assert "// Helpers ---" in out and out.endswith("export default Cart;\n")


def test_js_deleted_method_between_anchors():
    answer = """\
        // ... existing code ...
        class Cart {
          constructor() {
            this.items = [];
          }

          clear() {
            this.items = [];
          }
        }
        // ... existing code ...
    """
    expected = dedent(JS).replace(
        "  /** Adds one item. */\n  add(item) {\n    this.items.push(item);\n  }\n\n", ""
    )
    assert merge(JS, answer, "javascript") == expected


TS = """\
    interface Shape {
      area(): number;
    }

    @Component({ selector: "app" })
    export class App {
      @Input() name = "x";

      @HostListener("click")
      onClick(): void {
        console.log(this.name);
      }

      render(): string {
        return this.name;
      }
    }

    function area(s: Shape): number {
      return s.area();
    }
"""


@pytest.mark.parametrize("language", ["typescript", "tsx"])
def test_ts_decorated_method_keeps_its_decorator(language):
    answer = """\
        // ... existing code ...

        @Component({ selector: "app" })
        export class App {
          // ... existing code ...

          @HostListener("click")
          onClick(): void {
            console.info(this.name);
          }

          // ... existing code ...
        }

        // ... existing code ...
    """
    assert merge(TS, answer, language) == dedent(TS).replace("console.log", "console.info")


def test_ts_interface_member_added():
    answer = """\
        interface Shape {
          area(): number;
          perimeter(): number;
        }

        // ... existing code ...
    """
    expected = dedent(TS).replace("  area(): number;\n", "  area(): number;\n  perimeter(): number;\n")
    assert merge(TS, answer, "typescript") == expected


def test_ts_duplicate_overload_names_are_ambiguous():
    original = """\
        function f(x: number): number;
        function f(x: string): string;
        function f(x: any): any {
          return x;
        }
    """
    answer = """\
        // ... existing code ...
        function f(x: boolean): boolean;
        // ... existing code ...
    """
    with pytest.raises(MergeRefused, match="ambiguous"):
        merge(original, answer, "typescript")


# --- CSS -----------------------------------------------------------------------------------------------

CSS = """\
    @import "base.css";

    /* Layout */

    body {
      margin: 0;
      color: #333;
    }

    .card, .panel {
      padding: 8px;
      border: 1px solid #ccc;
    }

    @media (max-width: 600px) {
      .card {
        padding: 4px;
      }
    }
"""


def test_css_changed_rule_replaces_the_rule():
    answer = """\
        /* ... existing code ... */

        .card, .panel {
          padding: 12px;
          border: 1px solid #ccc;
        }

        /* ... existing code ... */
    """
    assert merge(CSS, answer, "css") == dedent(CSS).replace("padding: 8px", "padding: 12px")


def test_css_declaration_changed_inside_rule_with_marker():
    answer = """\
        /* ... existing code ... */

        body {
          /* ... existing code ... */
          color: #111;
        }

        /* ... existing code ... */
    """
    assert merge(CSS, answer, "css") == dedent(CSS).replace("color: #333", "color: #111")


def test_css_new_rule_inside_media_query():
    answer = """\
        /* ... existing code ... */

        @media (max-width: 600px) {
          /* ... existing code ... */

          .panel {
            display: none;
          }
        }
    """
    expected = dedent(CSS).replace(
        "    padding: 4px;\n  }\n", "    padding: 4px;\n  }\n\n  .panel {\n    display: none;\n  }\n"
    )
    assert merge(CSS, answer, "css") == expected


def test_css_line_comment_is_not_a_marker():
    assert not is_lazy_answer("// ... existing code ...\n", "css")
    assert is_lazy_answer("/* ... */\n", "css")


# --- Go ------------------------------------------------------------------------------------------------

GO = """\
    package shop

    import (
    \t"fmt"
    )

    // Item is a thing to buy.
    type Item struct {
    \tName  string
    \tPrice int
    }

    // String formats the item.
    func (i *Item) String() string {
    \treturn fmt.Sprintf("%s: %d", i.Name, i.Price)
    }

    func (c *Cart) String() string {
    \treturn "cart"
    }

    func Total(items []Item) int {
    \tt := 0
    \tfor _, it := range items {
    \t\tt += it.Price
    \t}
    \treturn t
    }
"""


def test_go_methods_with_the_same_name_told_apart_by_receiver():
    answer = """\
        // ... existing code ...

        // String formats the item.
        func (i *Item) String() string {
        \treturn fmt.Sprintf("%s (%d)", i.Name, i.Price)
        }

        // ... existing code ...
    """
    assert merge(GO, answer, "go") == dedent(GO).replace('"%s: %d"', '"%s (%d)"')


def test_go_struct_field_added_and_function_body_marker():
    answer = """\
        // ... existing code ...

        // Item is a thing to buy.
        type Item struct {
        \t// ... existing code ...
        \tQty   int
        }

        // ... existing code ...

        func Total(items []Item) int {
        \t// ... existing code ...
        \treturn t * 100
        }
    """
    expected = (
        dedent(GO)
        .replace("\tPrice int\n", "\tPrice int\n\tQty   int\n")
        .replace("\treturn t\n", "\treturn t * 100\n")
    )
    assert merge(GO, answer, "go") == expected


def test_go_deleted_function_at_the_end():
    answer = """\
        // ... existing code ...

        func (c *Cart) String() string {
        \treturn "cart"
        }
    """
    assert merge(GO, answer, "go") == dedent(GO).split("\nfunc Total")[0]


# --- Rust ----------------------------------------------------------------------------------------------

RUST = """\
    use std::fmt;

    /// A point.
    #[derive(Debug, Clone)]
    pub struct Point {
        pub x: i32,
        pub y: i32,
    }

    impl Point {
        pub fn new(x: i32, y: i32) -> Self {
            Self { x, y }
        }

        pub fn norm(&self) -> i32 {
            self.x.abs() + self.y.abs()
        }
    }

    impl fmt::Display for Point {
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "({}, {})", self.x, self.y)
        }
    }
"""


def test_rust_method_changed_in_the_right_impl():
    answer = """\
        // ... existing code ...

        impl Point {
            // ... existing code ...

            pub fn norm(&self) -> i32 {
                self.x * self.x + self.y * self.y
            }
        }

        // ... existing code ...
    """
    assert merge(RUST, answer, "rust") == dedent(RUST).replace(
        "self.x.abs() + self.y.abs()", "self.x * self.x + self.y * self.y"
    )


def test_rust_attributes_and_doc_comments_travel_with_the_struct():
    answer = """\
        // ... existing code ...

        /// A point.
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct Point {
            pub x: i32,
            pub y: i32,
        }

        // ... existing code ...
    """
    assert merge(RUST, answer, "rust") == dedent(RUST).replace(
        "Debug, Clone)", "Debug, Clone, Copy, PartialEq)"
    )


def test_rust_new_trait_impl_after_its_predecessor():
    answer = """\
        // ... existing code ...

        impl fmt::Display for Point {
            // ... existing code ...
        }

        impl Default for Point {
            fn default() -> Self {
                Self::new(0, 0)
            }
        }
    """
    added = "\nimpl Default for Point {\n    fn default() -> Self {\n        Self::new(0, 0)\n    }\n}\n"
    assert merge(RUST, answer, "rust") == dedent(RUST) + added


# --- Java ----------------------------------------------------------------------------------------------

JAVA = """\
    package shop;

    import java.util.List;

    public class Calc {
        private int base = 0;

        public int add(int a, int b) {
            return a + b;
        }

        public double add(double a, double b) {
            return a + b;
        }

        @Override
        public String toString() {
            return "Calc";
        }
    }
"""


def test_java_overload_told_apart_by_signature():
    answer = """\
        // ... existing code ...

        public class Calc {
            // ... existing code ...

            public double add(double a, double b) {
                return base + a + b;
            }

            // ... existing code ...
        }
    """
    expected = dedent(JAVA).replace(
        "double b) {\n        return a + b;", "double b) {\n        return base + a + b;"
    )
    assert merge(JAVA, answer, "java") == expected


def test_java_annotated_method_and_new_field():
    answer = """\
        // ... existing code ...

        public class Calc {
            private int base = 0;
            private int calls = 0;

            // ... existing code ...

            @Override
            public String toString() {
                return "Calc(" + calls + ")";
            }
        }
    """
    expected = (
        dedent(JAVA)
        .replace("private int base = 0;\n", "private int base = 0;\n    private int calls = 0;\n")
        .replace('return "Calc";', 'return "Calc(" + calls + ")";')
    )
    assert merge(JAVA, answer, "java") == expected


def test_java_overload_with_changed_signature_is_ambiguous():
    answer = """\
        // ... existing code ...
        public class Calc {
            // ... existing code ...
            public long add(long a, long b) {
                return a + b;
            }
        }
    """
    with pytest.raises(MergeRefused, match="ambiguous"):
        merge(JAVA, answer, "java")


@pytest.mark.parametrize(
    ("language", "broken"),
    [
        ("javascript", "function f( {\n"),
        ("typescript", "let x: = 1;\n"),
        ("css", "a { color: red;\n"),
        ("go", "package p\nfunc f( {\n}\n"),
        ("rust", "fn f( {}\n"),
        ("java", "class A { void f( }\n"),
    ],
)
def test_answers_that_do_not_parse_are_refused(language, broken):
    with pytest.raises(MergeRefused, match="answer does not parse"):
        merge_lazy("", broken, language)
