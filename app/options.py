"""Command-line flags shared by the commands that run a model, each declared once.

Most of them can also be set in ``config.toml`` or a repository's ``.specedit.toml``; ``specedit config``
shows the effective values and where each came from.

Every flag defaults to ``argparse.SUPPRESS``: an attribute exists in the parsed namespace only when the
user typed the flag, so ``app.run_options`` can let it win over the config files. The defaults shown in
``--help`` are read from :class:`~app.run_options.RunOptions`, the one place they are defined.
"""

from __future__ import annotations

import argparse

from app.config_file import BACKENDS, FORMATS
from app.run_options import RunOptions
from decoding.backends.openai_compat import DEFAULT_TIMEOUT_S
from decoding.engine.config import METHOD_CHOICES
from decoding.models.load import ENGINES

_DEFAULTS = RunOptions()


def add_model_options(parser: argparse.ArgumentParser, method: bool = True, backend: bool = True) -> None:
    """Which models to load and how, and (``backend``) who runs them with which decoding ``method``."""
    g = parser.add_argument_group("model")
    g.add_argument(
        "--model",
        default=argparse.SUPPRESS,
        help="target model: builtin alias (qwen-coder-1.5b, qwen-coder-0.5b, smollm2), local dir, .gguf "
        "file or hub id "
        f"(default: {_DEFAULTS.model})",
    )
    g.add_argument(
        "--draft",
        default=argparse.SUPPRESS,
        help="draft model (same tokenizer as the target), or none; default: qwen-coder-0.5b for "
        "qwen-coder-1.5b, else self-speculative early exit of the target's first layers",
    )
    g.add_argument("--device", default=argparse.SUPPRESS, help="auto, cpu, cuda, cuda:N (default: auto)")
    g.add_argument(
        "--dtype", default=argparse.SUPPRESS, help="auto, float32, bfloat16, float16 (default: auto)"
    )
    g.add_argument(
        "--engine",
        default=argparse.SUPPRESS,
        choices=ENGINES,
        help="who runs the model: llamacpp (GGUF weights on llama.cpp's quantized CPU kernels), torch, "
        "or auto = llamacpp for a GGUF or builtin model on CPU, else torch (default: auto)",
    )
    g.add_argument(
        "--load-in-4bit",
        dest="load_in_4bit",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS,
        help="4-bit NF4 target via bitsandbytes (default: on with CUDA, off on CPU)",
    )
    if backend:
        _add_backend_options(parser, method)


def _add_backend_options(parser: argparse.ArgumentParser, method: bool) -> None:
    """Who answers (in-process engine or a server) and with which decoding method."""
    g = parser.add_argument_group("backend")
    if method:
        g.add_argument(
            "--method",
            default=argparse.SUPPRESS,
            choices=METHOD_CHOICES,
            help="decoding method; all give the same output (default: auto = multilayer for a target on a "
            "GPU with a draft, else lookup, measured fastest on a CPU)",
        )
    g.add_argument(
        "--backend",
        default=argparse.SUPPRESS,
        choices=BACKENDS,
        help="local in-process model, or an OpenAI-compatible server (vLLM, llama.cpp) (default: local)",
    )
    g.add_argument(
        "--base-url",
        default=argparse.SUPPRESS,
        help="server URL for --backend openai, e.g. http://127.0.0.1:8000/v1 (default: $SPECEDIT_BASE_URL)",
    )
    g.add_argument(
        "--api-key",
        default=argparse.SUPPRESS,
        help="API key for --backend openai (default: $SPECEDIT_API_KEY or $OPENAI_API_KEY)",
    )
    g.add_argument(
        "--timeout",
        type=float,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="--backend openai: give up on an answer not complete after this long, however the server "
        f"keeps the connection busy (default: {DEFAULT_TIMEOUT_S:g})",
    )


def add_edit_options(parser: argparse.ArgumentParser) -> None:
    """How an edit is asked for and checked: the TUI and ``specedit edit``."""
    g = parser.add_argument_group("edit")
    g.add_argument(
        "--format",
        default=argparse.SUPPRESS,
        choices=FORMATS,
        help="answer format: whole file (prompt lookup makes the copy cheap), lazy (changed blocks merged "
        "by tree-sitter) or auto (lazy, whole-file fallback when the merge refuses); lazy pays off only "
        f"with models that follow it (docs/benchmarks.md) (default: {_DEFAULTS.format})",
    )
    g.add_argument(
        "--check",
        default=argparse.SUPPRESS,
        metavar="CMD",
        help="your lint/test command, run after an edit is applied",
    )
    add_budget_option(g)
    g.add_argument(
        "--no-cache",
        action="store_true",
        default=argparse.SUPPRESS,
        help="always generate, even for a request answered before",
    )


def add_budget_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--max-new-tokens``: edits and the bench share one budget flag (and config key)."""
    parser.add_argument(
        "--max-new-tokens",
        type=positive_int,
        default=argparse.SUPPRESS,
        help="token budget of one answer (default: from the file's size)",
    )


def add_theme_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--theme",
        default=argparse.SUPPRESS,
        help="UI theme (specedit-dark, specedit-light); the last one picked is remembered",
    )


def positive_int(text: str) -> int:
    """An argparse type for counts and budgets: 0 or less is a usage error, not a silent no-op."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return value
