"""Build the edit backend the command line asked for (slow: loads models; call it off the UI thread)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from decoding.request import EditBackend

Progress = Callable[[str, float | None], None]


def make_backend(
    args: argparse.Namespace, progress: Progress | None = None, max_new_tokens: int | None = None
) -> EditBackend:
    if getattr(args, "backend", "local") == "openai":
        from decoding.openai_backend import OpenAIBackend

        if not args.base_url:
            raise ValueError(
                "--backend openai needs --base-url (or $SPECEDIT_BASE_URL), e.g. http://127.0.0.1:8000/v1"
            )
        key = args.api_key or os.environ.get("SPECEDIT_API_KEY") or os.environ.get("OPENAI_API_KEY")
        return OpenAIBackend(base_url=args.base_url, model=args.model, api_key=key, max_tokens=max_new_tokens)

    from decoding.config import SpecConfig
    from decoding.local_backend import LocalBackend
    from decoding.models import load_models

    models = load_models(
        args.model,
        args.draft,
        device=args.device,
        dtype=args.dtype,
        load_in_4bit=args.load_in_4bit,
        progress=progress,
    )
    if args.method in ("draft", "multilayer"):
        from decoding.tune import use_tuned_draft

        use_tuned_draft(models)  # a `specedit tune` adapter, when there is one, speeds the draft up
    return LocalBackend(models, SpecConfig(method=args.method), max_new_tokens=max_new_tokens)
