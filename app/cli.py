"""``specedit`` entry point.

Every subcommand lives in ``app/commands/<name>.py`` exposing ``register(subparsers)`` and
``run(args) -> int``. Those modules import nothing heavy at module level (torch, transformers and
textual are imported inside ``run``), so ``specedit --help`` answers instantly.

Commands report failures by raising a :class:`common.errors.SpeceditError`; :func:`main` is the one place
that prints it (``error:`` / ``hint:``) and maps it to the exit-code table, so every command exits the same
way for the same failure.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from app import __version__
from common.errors import ExitCode, SpeceditError, exit_codes_help, format_error

COMMANDS = ("open", "edit", "bench", "models", "merge", "undo", "redo", "log", "tune", "config")
_DEFAULT = "open"

DESCRIPTION = """\
Chat-driven editing of code files by a local LLM, made fast by lossless multi-layer speculative
decoding (prompt lookup -> draft model -> target model).

  specedit PATH                      open the TUI on a folder or a file
  specedit edit FILE -m "..." --yes  same pipeline without the TUI
  specedit bench --dataset F.jsonl   compare decoding methods side by side
  specedit undo | redo | log         git-backed history of specedit edits
  specedit config [PATH]             effective settings (config.toml, .specedit.toml, flags)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="specedit",
        description=DESCRIPTION,
        epilog=exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"specedit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"app.commands.{name}")
        module.register(sub)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """``specedit PATH`` means ``specedit open PATH``; bare ``specedit`` opens the current folder."""
    if not argv:
        return [_DEFAULT]
    first = argv[0]
    if first in COMMANDS or first in {"-h", "--help", "--version"}:
        return argv
    return [_DEFAULT, *argv]


def main(argv: Sequence[str] | None = None) -> int:
    args_list = _with_default_command(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(args_list)
    module = importlib.import_module(f"app.commands.{args.command}")
    try:
        return int(module.run(args) or 0)
    except SpeceditError as exc:
        print(format_error(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
