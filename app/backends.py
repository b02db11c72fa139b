"""Build the edit backend the options ask for (slow: loads models; call it off the UI thread)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.run_options import RunOptions
from common.errors import UsageError
from decoding.request import EditBackend

if TYPE_CHECKING:
    from decoding.models.load import LoadedModels
    from decoding.models.store import Progress


def load_models_for(
    options: RunOptions,
    progress: Progress | None = None,
    load_in_4bit: bool | None = None,
    engine: str | None = None,
) -> LoadedModels:
    """The models named by --model/--draft/--device/--dtype/--engine/--load-in-4bit (keywords override)."""
    from decoding.models.load import load_models

    return load_models(
        options.model,
        options.draft,
        device=options.device,
        dtype=options.dtype,
        load_in_4bit=options.load_in_4bit if load_in_4bit is None else load_in_4bit,
        progress=progress,
        engine=engine or options.engine,
    )


def make_backend(options: RunOptions, progress: Progress | None = None) -> EditBackend:
    if options.backend == "openai":
        from decoding.backends.openai_compat import OpenAIBackend

        if not options.base_url:
            raise UsageError(
                "--backend openai needs --base-url (or $SPECEDIT_BASE_URL)",
                hint="e.g. --base-url http://127.0.0.1:8000/v1",
            )
        try:
            return OpenAIBackend(
                base_url=options.base_url,
                model=options.model,
                api_key=options.api_key,
                max_tokens=options.max_new_tokens,
                **({"timeout": options.timeout} if options.timeout is not None else {}),
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    from decoding.backends.local import LocalBackend
    from decoding.engine.config import SpecConfig, resolve_method

    models = load_models_for(options, progress)
    if options.method in ("auto", "draft", "multilayer"):
        from decoding.personal.tune import use_tuned_draft

        use_tuned_draft(models)  # a `specedit tune` adapter, when there is one, speeds the draft up
    on_gpu = models.engine == "torch" and models.device.type == "cuda"  # a llama.cpp target runs on the CPU
    method = resolve_method(options.method, models.draft is not None, on_gpu)
    return LocalBackend(models, SpecConfig(method=method), max_new_tokens=options.max_new_tokens)
