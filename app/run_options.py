"""One typed options model for every command that runs a model, built once per run.

Values come from four places, later ones winning: the defaults below, the user's config file
(``~/.config/specedit/config.toml``), the repository's ``.specedit.toml``, the environment
(``SPECEDIT_BASE_URL``, ``SPECEDIT_API_KEY``/``OPENAI_API_KEY``) and the command-line flags. The flags are
declared in ``app/options.py`` with ``argparse.SUPPRESS`` defaults, so a value present in the parsed
namespace was typed by the user: that is how a flag is told apart from a default and wins over the files.
Commands read attributes of :class:`RunOptions`, never ``getattr`` on a namespace with a default of their own.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from app.config_file import find_repo_config, read_config
from common.paths import user_config_path

DEFAULT_MODEL = "qwen-coder-1.5b"  # measured: the smallest builtin that edits (docs/benchmarks.md)


@dataclass(frozen=True)
class RunOptions:
    """Everything that decides how an edit runs; field names are the flags' ``dest`` names."""

    model: str = DEFAULT_MODEL
    draft: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    engine: str = "auto"  # "auto", "torch" or "llamacpp" (decoding.models.load.ENGINES)
    load_in_4bit: bool | None = None  # None: on with CUDA, off on CPU
    method: str = "auto"  # "auto" or a decoding.engine.config method
    backend: str = "local"
    base_url: str | None = None
    api_key: str | None = None  # never read from files: they end up in repositories and backups
    timeout: float | None = None  # seconds for one server answer; None: the backend's default
    format: str = "whole"
    check: str | None = None  # the user's lint/test command, run after an apply
    theme: str | None = None
    max_new_tokens: int | None = None  # None: from the file's size
    no_cache: bool = False


FIELDS = tuple(f.name for f in fields(RunOptions))


@dataclass(frozen=True)
class Resolved:
    """The options and, for each field, where its value came from (for ``specedit config``)."""

    options: RunOptions
    origins: Mapping[str, str]  # field -> "default" | "user file" | "repo file" | "environment" | "flag"
    user_file: Path
    repo_file: Path | None


def _environment() -> dict[str, object]:
    values: dict[str, object] = {}
    if url := os.environ.get("SPECEDIT_BASE_URL"):
        values["base_url"] = url
    if key := os.environ.get("SPECEDIT_API_KEY") or os.environ.get("OPENAI_API_KEY"):
        values["api_key"] = key
    return values


def resolve(flags: Mapping[str, object], start: Path) -> Resolved:
    """Merge defaults, config files, environment and ``flags`` (only the flags the user gave).

    ``start`` is the file or folder the command works on; its repository's ``.specedit.toml`` applies.
    Bad config files raise UsageError (exit 2) naming the file and the problem.
    """
    user_file = user_config_path()
    repo_file = find_repo_config(start)
    layers: list[tuple[str, Mapping[str, object]]] = [("user file", read_config(user_file))]
    if repo_file is not None:
        layers.append(("repo file", read_config(repo_file)))
    layers += [("environment", _environment()), ("flag", {k: v for k, v in flags.items() if k in FIELDS})]
    values: dict[str, object] = {}
    origins = dict.fromkeys(FIELDS, "default")
    for origin, layer in layers:
        for name, value in layer.items():
            values[name] = value
            origins[name] = origin
    return Resolved(replace(RunOptions(), **values), origins, user_file, repo_file)  # type: ignore[arg-type]


def options_from_args(args: argparse.Namespace, start: Path | str = ".") -> RunOptions:
    """The one place a command turns its parsed flags into options."""
    return resolve(vars(args), Path(start)).options
