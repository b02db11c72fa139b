"""Chat prompts for whole-file and lazy edits, and extraction of the file from the answer.

The assistant turn is pre-filled with the opening code fence: the model then starts directly with
the file's first line, which is exactly where prompt lookup has its best match, and the answer needs
no chatter stripped. Generation ends at the closing fence (the model emits it and then EOS).
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
    """A fence longer than any backtick fence in the file (Markdown), so the answer's end is unambiguous."""
    longest = max((len(m.group(0)) for m in re.finditer(r"(?m)^`{3,}", original)), default=2)
    return "`" * max(3, longest + 1)


def fence_open(request: EditRequest) -> str:
    return f"{fence_for(request.original)}{language_for(request.path)}\n"


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
    user = (
        f"Instruction: {request.instruction.strip()}\n\nFile `{request.path}`:\n{fence}{lang}\n{body}{fence}"
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
    return text + fence_open(request)


def extract_file(answer: str, original: str) -> str:
    """The file text from a raw answer that began right after the pre-filled opening fence.

    Everything up to the first closing fence line is the file; a missing fence (budget hit) keeps the
    whole answer. The original's trailing-newline convention is kept so a no-op edit diffs empty.
    """
    fence = fence_for(original)
    lines = answer.splitlines(keepends=True)
    kept: list[str] = []
    for line in lines:
        if line.strip() == fence:
            break
        kept.append(line)
    text = "".join(kept)
    if original.endswith("\n") and text and not text.endswith("\n"):
        text += "\n"
    if not original.endswith("\n") and text.endswith("\n"):
        text = text[:-1]
    return text
