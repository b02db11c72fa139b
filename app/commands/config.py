"""``specedit config [PATH]``: the settings an edit of PATH would run with, and where each came from.

Settings come from defaults, ``config.toml`` in the user's config folder, the repository's
``.specedit.toml``, the environment and flags (later ones win). When a setting does not do what the user
expects, this answers "which file set it?" without reading code.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from app.options import add_edit_options, add_model_options, add_theme_option
from common.redact import redact_url

EXAMPLE = """\
example .specedit.toml (or config.toml; keys are the flags' names):
  model = "qwen-coder-1.5b"
  method = "auto"
  format = "whole"
  check = "ruff check ."
  theme = "specedit-light"
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="show the effective settings and where each came from (default, user file, repo file, flag)",
        description="Print every setting an edit of PATH would use and its origin. Later sources win: "
        "default < user file (config.toml) < repo file (.specedit.toml) < environment < flag. "
        "Pass flags to see their effect.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", nargs="?", default=".", help="file or folder whose settings to show (default: .)")
    add_theme_option(p)
    add_edit_options(p)
    add_model_options(p)


def run(args: argparse.Namespace) -> int:
    from app.run_options import resolve

    resolved = resolve(vars(args), Path(args.path))
    user = resolved.user_file
    print(f"user file: {user}{'' if user.is_file() else ' (none)'}")
    print(f"repo file: {resolved.repo_file or '(none)'}")
    print()
    values = asdict(resolved.options)
    rows = [(name, _show(name, value), resolved.origins[name]) for name, value in values.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for name, value, origin in rows:
        print(f"{name.ljust(widths[0])}  {value.ljust(widths[1])}  {origin}")
    return 0


def _show(name: str, value: object) -> str:
    """Values as a user would type them; the API key is never printed, only whether one is set."""
    if value is None:
        return "-"
    if name == "api_key":
        return "(set)"
    if name == "base_url":
        return redact_url(str(value))  # keys pasted into the URL are not shown either
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
