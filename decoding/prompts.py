"""Chat prompts for whole-file and lazy edits, and extraction of the file from the answer.

The assistant turn is pre-filled with the opening code fence: the model then starts directly with
the file's first line, which is exactly where prompt lookup has its best match. Generation ends at
the closing fence (the model emits it and then EOS).

Extraction must never truncate a faithful answer, so the fence is longer than any run of backticks
anywhere in the file (a ``` line indented in a docstring or a Markdown list included): no line of the
file can then be mistaken for the closing fence. An answer without that closing fence is not a file
and is refused (:class:`NoFileBlock`); small models sometimes ignore the pre-fill and write a line of
chatter and their own opening fence first, which is skipped.
"""

from __future__ import annotations

import re
from pathlib import PurePath

from decoding.request import EditRequest

_LANGS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "tsx",
    ".css": "css",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cc": "cpp",
    ".rb": "ruby",
    ".sh": "bash",
    ".md": "markdown",
    ".json": "json",
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".html": "html",
    ".sql": "sql",
}

WHOLE_SYSTEM = (
    "You are a precise code editor. Apply the user's instruction to the file and answer with the "
    "complete updated file in a single code block. Keep every line that the instruction does not "
    "ask to change exactly as it is. No explanations."
)

LAZY_SYSTEM = (
    "You are a precise code editor. Apply the user's instruction to the file and answer with a single "
    "code block that shows only what changes: each changed or new block (function, method, class, "
    "rule) complete, with its decorators and comments, in file order. Write the comment line "
    "`{marker}` wherever unchanged code is left out: before, between and after the blocks you show, "
    "and inside a class to skip its unchanged methods. To delete a block, show the blocks right before "
    "and after it with no marker between them. No explanations."
)


def language_for(path: str) -> str:
    """Fence language tag (also the tree-sitter language name where one exists)."""
    return _LANGS.get(PurePath(path).suffix.lower(), "")


def comment_marker(language: str) -> str:
    if language in {"python", "ruby", "bash", "toml", "yaml"}:
        return "# ... existing code ..."
    if language == "css":
        return "/* ... existing code ... */"
    return "// ... existing code ..."


def fence_for(original: str) -> str:
    """A fence longer than any run of backticks anywhere in the file, so the answer's end is unambiguous.

    Counting only fences at column 0 let an indented ``` line (a docstring, a Markdown list) end a
    faithful answer early.
    """
    longest = max((len(m.group(0)) for m in re.finditer(r"`+", original)), default=2)
    return "`" * max(3, longest + 1)


def fence_open(request: EditRequest) -> str:
    return f"{fence_for(request.original)}{language_for(request.path)}\n"


def assistant_prefill(request: EditRequest) -> str:
    """What the assistant turn starts with: the opening fence, then any answer already generated.

    ``request.prefix`` holds the text of an answer that was cut off by the token budget; continuing
    after it with greedy decoding yields what one run with a larger budget would have produced.
    """
    return fence_open(request) + request.prefix


def stop_text(request: EditRequest) -> str:
    """What ends a whole or lazy answer: the closing fence on its own line (small models often go on
    chatting after it instead of emitting EOS)."""
    return f"\n{fence_for(request.original)}\n"


def chat_messages(request: EditRequest) -> list[dict[str, str]]:
    lang = language_for(request.path)
    system = WHOLE_SYSTEM if request.format == "whole" else LAZY_SYSTEM.format(marker=comment_marker(lang))
    body = (
        request.original
        if request.original.endswith("\n") or not request.original
        else request.original + "\n"
    )
    fence = fence_for(request.original)
    done = "".join(f"- {step.strip()}\n" for step in request.earlier)
    earlier = f"Earlier instructions, already carried out in the file below:\n{done}\n" if done else ""
    user = (
        f"{earlier}Instruction: {request.instruction.strip()}\n\n"
        f"File `{request.path}`:\n{fence}{lang}\n{body}{fence}"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def render_prompt(tokenizer: object, request: EditRequest) -> str:
    """Full prompt text: chat template with the assistant turn opened and pre-filled with the fence."""
    apply = getattr(tokenizer, "apply_chat_template", None)
    messages = chat_messages(request)
    if apply is not None and getattr(tokenizer, "chat_template", None):
        text = apply(messages, tokenize=False, add_generation_prompt=True)
    else:  # base models without a template: a plain transcript works well enough
        text = "".join(f"{m['role'].upper()}:\n{m['content']}\n\n" for m in messages) + "ASSISTANT:\n"
    return text + assistant_prefill(request)


class NoFileBlock(Exception):
    """The answer holds no closed code block, so it is not a file (a refusal, prose, a lost fence)."""

    def __init__(self, answer: str) -> None:
        super().__init__("the answer has no closed code block")
        self.answer = answer


_CHATTER_LINES = 3  # non-blank lines of chatter a model may write before opening its own block
_OPENING_FENCE = re.compile(r"[ \t]*(`{3,})[\w.+#-]*[ \t]*\r?\n?")


def _split_lines(text: str) -> list[str]:
    r"""Lines with their ends, split on ``\n`` only (``str.splitlines`` also splits on form feeds)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _is_closing_fence(line: str, fence: str) -> bool:
    """Backticks alone on the line, at least as many as the fence: no line of the file can be one."""
    bare = line.strip()
    return len(bare) >= len(fence) and bare == "`" * len(bare)


def _body_start(lines: list[str], original: str, fence: str) -> int:
    """Index of the file's first line: after the model's own opening fence when chatter precedes it.

    Only lines absent from the original count as chatter, so a faithful answer always starts at 0.
    """
    known = {line.rstrip("\r\n") for line in _split_lines(original)}
    chatter = 0
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        opening = _OPENING_FENCE.fullmatch(line)
        if opening and len(opening.group(1)) >= len(fence):
            # a bare fence after chatter opens a block only if another fence closes it later
            closes_later = any(_is_closing_fence(rest, fence) for rest in lines[index + 1 :])
            is_opening = chatter and (not _is_closing_fence(line, fence) or closes_later)
            return index + 1 if is_opening else 0
        if line.rstrip("\r\n") in known or chatter == _CHATTER_LINES:
            return 0
        chatter += 1
    return 0


def _uses_crlf(text: str) -> bool:
    r"""Whether every line of ``text`` ends with ``\r\n`` (mixed files are left as the model wrote them)."""
    crlf = text.count("\r\n")
    return crlf > 0 and crlf == text.count("\n")


def keep_file_conventions(text: str, original: str) -> str:
    """The original's final-newline convention, and its CRLF line ends when it uses them throughout.

    Models write LF whatever the file uses; without this a CRLF file would come back with every
    line changed, and a no-op edit would not diff empty. The prompt shows a file without a final
    newline with one added, so a faithful answer has exactly that one to drop.
    """
    if not original.endswith("\n"):
        crlf = text.endswith("\r\n") and not original.endswith("\r")
        text = text.removesuffix("\r\n" if crlf else "\n")
    elif text and not text.endswith("\n"):
        text += "\n"
    if _uses_crlf(original):
        text = re.sub(r"(?<!\r)\n", "\r\n", text)
    return text


def extract_file(answer: str, original: str) -> str:
    """The file text from a raw answer that began right after the pre-filled opening fence.

    The file is everything up to the closing fence (chatter and a second opening fence before it
    skipped); what follows the fence is ignored. :class:`NoFileBlock` when there is no closing fence.
    """
    fence = fence_for(original)
    lines = _split_lines(answer)
    start = _body_start(lines, original, fence)
    for end in range(start, len(lines)):
        if _is_closing_fence(lines[end], fence):
            return keep_file_conventions("".join(lines[start:end]), original)
    raise NoFileBlock(answer)
