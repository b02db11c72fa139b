"""Tree-sitter view of a source file as nested lists of line-aligned blocks, for the lazy merge.

A *block* is one child of a container (the file, a class body, a function body, a CSS rule's block)
together with what belongs to it: comments, decorators and attributes directly above it (no blank line
between) and anything sharing its lines. Blocks own whole lines, so the merge can splice text line by
line and never has to re-indent. A *marker* is a block that is a lone ``... existing code ...`` comment
line in a lazy answer; it stands for original code.

Blocks are matched across original and answer by three keys, strictest first: the digest of their
whitespace-normalised text (unchanged), their signature (kind, name and header lines, which tells
overloads and property getter/setter pairs apart) and their (kind, name).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

import tree_sitter as ts

from common.errors import ProposalRefused


class MergeRefused(ProposalRefused):
    """A lazy answer that cannot be merged safely; ``reason`` is meant for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _grammars() -> dict[str, Callable[[], object]]:
    import tree_sitter_css
    import tree_sitter_go
    import tree_sitter_java
    import tree_sitter_javascript
    import tree_sitter_python
    import tree_sitter_rust
    import tree_sitter_typescript

    return {
        "python": tree_sitter_python.language,
        "javascript": tree_sitter_javascript.language,
        "typescript": tree_sitter_typescript.language_typescript,
        "tsx": tree_sitter_typescript.language_tsx,
        "css": tree_sitter_css.language,
        "go": tree_sitter_go.language,
        "rust": tree_sitter_rust.language,
        "java": tree_sitter_java.language,
    }


SUPPORTED_LANGUAGES: frozenset[str] = frozenset(
    {"python", "javascript", "typescript", "tsx", "css", "go", "rust", "java"}
)


@cache
def _parser(language: str) -> ts.Parser:
    return ts.Parser(ts.Language(_grammars()[language]()))


# --- markers -------------------------------------------------------------------------------------------

_ELLIPSIS = r"(?:\.{2,}|…)"
_MARKER_WORDS = re.compile(
    r"existing|unchanged|rest\b|remaining|omitted|same|other|previous|original|as before|code|more|etc",
    re.IGNORECASE,
)
_HASH_COMMENT = re.compile(r"^[ \t]*#+[ \t]*(?P<c>.*?)[ \t]*$")
_SLASH_COMMENT = re.compile(r"^[ \t]*//+[ \t]*(?P<c>.*?)[ \t]*$")
_BLOCK_COMMENT = re.compile(r"^[ \t]*/\*+[ \t]*(?P<c>.*?)[ \t]*\*+/[ \t]*$")
_COMMENT_SYNTAX = {"python": (_HASH_COMMENT,), "css": (_BLOCK_COMMENT,)}
_ALL_SYNTAXES = (_HASH_COMMENT, _SLASH_COMMENT, _BLOCK_COMMENT)


def _is_marker_text(content: str) -> bool:
    """``...``, ``... existing code ...``, ``... rest unchanged``, ``rest of the class ...``."""
    lead = re.fullmatch(rf"{_ELLIPSIS}\s*(?P<w>.*?)\s*{_ELLIPSIS}?", content)
    if lead is not None:
        words = lead.group("w")
        return not words or _MARKER_WORDS.search(words) is not None
    trail = re.fullmatch(rf"(?P<w>.+?)\s*{_ELLIPSIS}", content)
    return trail is not None and _MARKER_WORDS.search(trail.group("w")) is not None


def marker_rows(text: str, language: str) -> set[int]:
    """Rows (0-based) that hold nothing but a marker comment, in the language's comment syntax.

    An unknown language accepts every common comment syntax, so ``is_lazy_answer`` still answers.
    """
    if language in _COMMENT_SYNTAX:
        syntaxes = _COMMENT_SYNTAX[language]
    elif language in SUPPORTED_LANGUAGES:
        syntaxes = (_SLASH_COMMENT, _BLOCK_COMMENT)
    else:
        syntaxes = _ALL_SYNTAXES
    rows = set()
    for row, line in enumerate(split_lines(text)):
        for syntax in syntaxes:
            m = syntax.match(line.rstrip("\r\n"))
            if m is not None and _is_marker_text(m.group("c")):
                rows.add(row)
                break
    return rows


# --- blocks ----------------------------------------------------------------------------------------------

# Nodes that belong to the block right below them when no blank line separates them.
_PREFIX_TYPES = frozenset({"comment", "line_comment", "block_comment", "decorator", "attribute_item"})
_COMMENT_TYPES = frozenset({"comment", "line_comment", "block_comment"})
_MARKER_NODES = _COMMENT_TYPES | {"ellipsis"}  # Python markers are parsed as `...`
# Wrappers whose inner declaration gives the block its kind, name and body.
_WRAPPER_FIELDS = {"decorated_definition": "definition", "export_statement": "declaration"}
_BODY_TYPES = frozenset({"block", "class_body", "declaration_list", "field_declaration_list"})


# Declarations that style guides (PEP 8, gofmt, most JS/Java/Rust styles) separate by blank lines.
DEFINITION_KINDS = frozenset(
    {
        "function_definition",
        "class_definition",
        "function_declaration",
        "generator_function_declaration",
        "class_declaration",
        "method_definition",
        "method_declaration",
        "interface_declaration",
        "enum_declaration",
        "type_spec",
        "function_item",
        "impl_item",
        "struct_item",
        "enum_item",
        "trait_item",
        "mod_item",
        "rule_set",
        "media_statement",
    }
)
IMPORT_KINDS = frozenset(
    {
        "import_statement",
        "import_from_statement",
        "future_import_statement",
        "import_declaration",
        "use_declaration",
    }
)


def split_lines(text: str) -> list[str]:
    r"""Lines with their ends, split on ``\n`` only: tree-sitter's rows (``str.splitlines`` would also
    split on form feeds and ``\u2028``, which can sit inside code)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def normalize(text: str) -> str:
    return " ".join(text.split())


def _last_row(node: ts.Node) -> int:
    end = node.end_point
    return end.row - 1 if end.column == 0 and end.row > node.start_point.row else end.row


@dataclass(frozen=True)
class Source:
    """One parsed text: its lines (with line ends) and tree, plus the rows holding markers."""

    lines: list[str]
    tree: ts.Tree
    parsed: bytes  # the bytes tree-sitter saw (answers in Python have markers swapped for ``...``)
    markers: frozenset[int]

    def node_text(self, node: ts.Node) -> str:
        return self.parsed[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def row_text(self, first: int, last: int) -> str:
        return "".join(self.lines[first : last + 1])


@dataclass(frozen=True)
class Block:
    """Rows ``first..last`` of a container; ``node`` is the declaration that names it (None: comments)."""

    first: int
    last: int
    node: ts.Node | None
    marker: bool
    kind: str
    name: str | None
    signature: str
    digest: str
    comment_rows: int = 0  # leading rows of comments attached above the code (they travel with it)

    @property
    def category(self) -> str:
        """Definitions and imports each count as one kind: for spacing, and for telling whether a new
        block may be a rewrite of an old one (a class replacing two functions)."""
        if self.kind in DEFINITION_KINDS:
            return "definition"
        return "import" if self.kind in IMPORT_KINDS else self.kind

    @property
    def rows(self) -> int:
        return self.last - self.first + 1

    def describe(self) -> str:
        """How messages name the block: ``function `area```, ``for `for x in xs:```, ``comment``."""
        kind = re.sub(r"_(definition|declaration|declarator|statement|item|spec)$", "", self.kind)
        kind = kind.replace("_", " ")
        return f"{kind} `{self.name}`" if self.name else kind


def parse(text: str, language: str, *, answer: bool) -> Source:
    """Parse ``text``; in an answer, marker rows are recognised (and made parseable in Python).

    A Python body that is only ``# ... existing code ...`` does not parse, so marker lines are swapped
    for an ``...`` statement of the same indentation before parsing; rows stay where they are.
    """
    if language not in SUPPORTED_LANGUAGES:
        supported = ", ".join(sorted(SUPPORTED_LANGUAGES))
        raise MergeRefused(f"lazy merge supports {supported}, not {language or 'this file type'}")
    rows = marker_rows(text, language) if answer else set()
    lines = split_lines(text)
    parsed_lines = list(lines)
    indents = {row: len(lines[row]) - len(lines[row].lstrip(" \t")) for row in rows}
    if language == "python":
        for row in rows:
            line = lines[row]
            parsed_lines[row] = line[: indents[row]] + "..." + line[len(line.rstrip("\r\n")) :]
    parsed = "".join(parsed_lines).encode()
    tree = _parser(language).parse(parsed)
    kept = {row for row in rows if _is_marker_node(tree, row, indents[row])}
    return Source(lines, tree, parsed, frozenset(kept))


def _is_marker_node(tree: ts.Tree, row: int, column: int) -> bool:
    """Whether the text at (row, column) is a comment (or Python's ``...``), not a line inside a string.

    The deepest node there may be a comment's own ``//`` token, so look up while on the same row.
    """
    node: ts.Node | None = tree.root_node.descendant_for_point_range((row, column), (row, column))
    while node is not None and node.type not in _MARKER_NODES and node.start_point.row == row:
        node = node.parent
    return node is not None and node.type in _MARKER_NODES


def first_error_row(source: Source) -> int | None:
    """Row of the first ERROR or MISSING node, or None when the text parses cleanly."""
    if not source.tree.root_node.has_error:
        return None
    cursor: list[ts.Node] = [source.tree.root_node]
    while cursor:
        node = cursor.pop(0)
        if node.is_error or node.is_missing:
            return node.start_point.row
        cursor = [c for c in node.children if c.has_error or c.is_missing] + cursor
    return source.tree.root_node.start_point.row


def _unwrap(node: ts.Node) -> ts.Node:
    """The declaration inside decorators, ``export``, ``type X struct``, ``const f = () => {}``, or
    the expression of a statement (so ``x = 1`` and ``x += 1`` are different kinds of block)."""
    while True:
        inner = None
        if node.type in _WRAPPER_FIELDS:
            inner = node.child_by_field_name(_WRAPPER_FIELDS[node.type])
        elif node.type in {"lexical_declaration", "variable_declaration", "type_declaration"} or (
            node.type == "expression_statement" and node.named_child_count == 1
        ):
            named = [c for c in node.named_children if c.type not in _COMMENT_TYPES]
            if len(named) == 1:
                inner = named[0]
        if inner is None:
            return node
        node = inner


def _body(node: ts.Node) -> ts.Node | None:
    """The node whose children are the blocks nested in ``node`` (class, function, rule, impl...)."""
    node = _unwrap(node)
    for field in ("body", "value", "type"):
        child = node.child_by_field_name(field)
        if child is None:
            continue
        if field == "body":
            return child
        if child.child_by_field_name("body") is not None:  # const f = () => {...}; class expressions
            return child.child_by_field_name("body")
        if child.type in {"struct_type", "interface_type"}:  # Go: type T struct {...}
            lists = [c for c in child.named_children if c.type.endswith("_list")]
            return lists[0] if lists else child
    blocks = [c for c in node.named_children if c.type in _BODY_TYPES]  # CSS rules and at-rules
    return blocks[-1] if blocks else None


def _declared_names(source: Source, node: ts.Node) -> list[str]:
    names = []
    for child in node.named_children:
        named = child.child_by_field_name("name")
        if named is None and child.child_by_field_name("declarator") is not None:
            named = child.child_by_field_name("declarator").child_by_field_name("name")
        if named is not None:
            names.append(source.node_text(named))
    return names


def _imported_module(source: Source, node: ts.Node) -> str | None:
    """The module an import statement names, so that an import the answer changed (``from typing
    import Dict, List`` for ``from typing import List``) replaces the original instead of joining it."""
    field = {"import_from_statement": "module_name", "import_statement": "source"}.get(node.type)
    if field is not None and node.child_by_field_name(field) is not None:  # Python from-import, JS/TS
        return normalize(source.node_text(node.child_by_field_name(field))).strip("'\"")
    if node.type == "import_statement":  # Python `import a.b as c, d`: the first module
        first = node.child_by_field_name("name")
        if first is not None and first.type == "aliased_import":
            first = first.child_by_field_name("name")
        return normalize(source.node_text(first)) if first is not None else None
    if node.type == "import_declaration" and any(
        c.type.startswith("import_spec") for c in node.named_children
    ):
        return "import"  # Go: one declaration per file (goimports), `import "fmt"` or a group
    return None


def _name(source: Source, node: ts.Node) -> str | None:
    """What a reader would call the block: its identifier, selectors, or header line."""
    text = source.node_text
    kind = node.type
    if kind == "method_declaration" and node.child_by_field_name("receiver") is not None:  # Go
        receiver = normalize(text(node.child_by_field_name("receiver")))
        return f"{receiver}.{text(node.child_by_field_name('name'))}"
    module = _imported_module(source, node)
    if module is not None:
        return module
    if kind == "impl_item":
        trait = node.child_by_field_name("trait")
        target = text(node.child_by_field_name("type"))
        return f"{text(trait)} for {target}" if trait is not None else target
    named = node.child_by_field_name("name") or node.child_by_field_name("property")
    if named is not None:
        return text(named)
    if kind == "string":  # a docstring
        return "docstring"
    if kind == "return_statement":  # `# ... existing code ...` then a new return replaces the old one
        return "return"
    if kind in {"assignment", "assignment_expression"}:  # not augmented: `x += 1` declares nothing
        return normalize(text(node.child_by_field_name("left")))
    if kind in {"rule_set", "declaration"} and node.named_child_count:  # CSS selectors / property
        return normalize(text(node.named_children[0]))
    declared = _declared_names(source, node)
    multiline = node.start_point.row != _last_row(node)
    if len(declared) == 1 or (declared and not multiline):
        return ", ".join(declared)
    header = normalize(source.lines[node.start_point.row])
    if multiline and len(re.findall(r"\w+", header)) > 1:  # `for x in xs:` names it, `try:` does not
        return header
    return None


def _children(container: ts.Node) -> Iterator[ts.Node]:
    for child in container.named_children:
        if child.type == "statement_list":  # Go wraps a body's statements (but not its comments)
            yield from child.named_children
        else:
            yield child


def _make_block(source: Source, nodes: list[ts.Node], first: int, last: int) -> Block:
    marker = first == last and first in source.markers and all(n.start_point.row == first for n in nodes)
    main = next((n for n in nodes if n.type not in _PREFIX_TYPES), None)
    digest = hashlib.sha1(normalize(source.row_text(first, last)).encode()).hexdigest()
    if marker or main is None:
        return Block(first, last, None, marker, "marker" if marker else "comment", None, "", digest)
    inner = _unwrap(main)
    signature = normalize(source.row_text(first, inner.start_point.row))
    code_row = next(n.start_point.row for n in nodes if n.type not in _COMMENT_TYPES)
    name = _name(source, inner)
    return Block(first, last, main, False, inner.type, name, signature, digest, code_row - first)


def blocks(source: Source, container: ts.Node) -> list[Block]:
    """The container's children grouped into line-aligned blocks, in order.

    Nodes sharing a row form one block; a run of comments/decorators touching the next block (no
    blank line) joins it; a detached run of comment lines is one comment block. Markers stay alone.
    """
    groups: list[list[ts.Node]] = []
    spans: list[tuple[int, int]] = []
    for node in _children(container):
        first, last = node.start_point.row, _last_row(node)
        if groups and first <= spans[-1][1]:
            groups[-1].append(node)
            spans[-1] = (spans[-1][0], max(last, spans[-1][1]))
        else:
            groups.append([node])
            spans.append((first, last))

    def is_prefix(i: int) -> bool:
        lone_marker = spans[i][0] == spans[i][1] and spans[i][0] in source.markers
        return not lone_marker and all(n.type in _PREFIX_TYPES for n in groups[i])

    out: list[Block] = []
    i = 0
    while i < len(groups):
        j = i  # extend over touching prefix groups, then onto the block they sit on
        while is_prefix(j) and j + 1 < len(groups) and spans[j + 1][0] == spans[j][1] + 1:
            if not is_prefix(j + 1) and spans[j + 1][0] in source.markers:
                break
            j += 1
        nodes = [n for g in groups[i : j + 1] for n in g]
        out.append(_make_block(source, nodes, spans[i][0], spans[j][1]))
        i = j + 1
    return out


def nested_blocks(source: Source, block: Block) -> list[Block] | None:
    """The blocks inside ``block``'s body when they own their lines, else None (one-liners, no body).

    Owning lines means the body's opening token (``{`` or Python's ``:``) ends on an earlier row than
    the first nested block and its closing token starts on a later row than the last one.
    """
    if block.node is None:
        return None
    body = _body(block.node)
    if body is None:
        return None
    inner = blocks(source, body)
    if not inner:
        return None
    tokens = [c for c in body.children if not c.is_named]
    opening = [c for c in tokens if c.end_byte <= body.named_children[0].start_byte]
    before = opening[-1] if opening else body.prev_sibling
    closing = [c for c in tokens if c.start_byte >= body.named_children[-1].end_byte]
    if before is not None and _last_row(before) >= inner[0].first:
        return None
    if closing and closing[0].start_point.row <= inner[-1].last:
        return None
    if inner[0].first <= block.first:
        return None
    return inner


def top_blocks(source: Source) -> list[Block]:
    return blocks(source, source.tree.root_node)
