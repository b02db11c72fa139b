"""Build the edit backend the command line asked for (slow: loads models; call it off the UI thread)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from common.errors import UsageError
from decoding.request import EditBackend

if TYPE_CHECKING:
    from decoding.models.load import LoadedModels

Progress = Callable[[str, float | None], None]


def load_models_from_args(
    args: argparse.Namespace, progress: Progress | None = None, **overrides: object
) -> LoadedModels:
    """The models named by the shared --model/--draft/--device/--dtype/--load-in-4bit options."""
    from decoding.models.load import load_models

    options: dict[str, object] = {
        "device": args.device,
        "dtype": args.dtype,
        "load_in_4bit": getattr(args, "load_in_4bit", None),
        "progress": progress,
    }
    return load_models(args.model, args.draft, **(options | overrides))  # type: ignore[arg-type]


def make_backend(
    args: argparse.Namespace, progress: Progress | None = None, max_new_tokens: int | None = None
) -> EditBackend:
    if getattr(args, "backend", "local") == "openai":
        from decoding.backends.openai_compat import OpenAIBackend

        if not args.base_url:
            raise UsageError(
                "--backend openai needs --base-url (or $SPECEDIT_BASE_URL)",
                hint="e.g. --base-url http://127.0.0.1:8000/v1",
            )
        key = args.api_key or os.environ.get("SPECEDIT_API_KEY") or os.environ.get("OPENAI_API_KEY")
        try:
            return OpenAIBackend(
                base_url=args.base_url, model=args.model, api_key=key, max_tokens=max_new_tokens
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    from decoding.backends.local import LocalBackend
    from decoding.engine.config import SpecConfig

    models = load_models_from_args(args, progress)
    if args.method in ("auto", "draft", "multilayer"):
        from decoding.personal.tune import use_tuned_draft

        use_tuned_draft(models)  # a `specedit tune` adapter, when there is one, speeds the draft up
    if args.method == "auto":
        # Measured (docs/benchmarks.md): the untuned early-exit draft of a small model agrees with it on
        # ~1 % of tokens, so multilayer pays for a useless layer; it runs only with a real or tuned draft.
        args.method = "multilayer" if models.draft is not None else "lookup"
    return LocalBackend(models, SpecConfig(method=args.method), max_new_tokens=max_new_tokens)
