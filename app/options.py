"""Command-line options shared by every command that runs a model (open, edit, bench)."""

from __future__ import annotations

import argparse
import os


def add_model_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model")
    g.add_argument(
        "--model",
        default="smollm2",
        help="target model: builtin alias (smollm2), local dir, .gguf file or hub id (default: smollm2)",
    )
    g.add_argument(
        "--draft",
        default=None,
        help="draft model (same tokenizer as the target); default: self-speculative early exit "
        "of the target's first layers",
    )
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    g.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16 (default: auto)")
    g.add_argument(
        "--load-in-4bit",
        dest="load_in_4bit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="4-bit NF4 target via bitsandbytes (default: on with CUDA, off on CPU)",
    )
    g.add_argument(
        "--method",
        default="auto",
        choices=["auto", "regular", "lookup", "draft", "multilayer"],
        help="decoding method; all give the same output (default: auto = multilayer with a --draft or a "
        "tuned draft, else lookup)",
    )
    g.add_argument(
        "--backend",
        default="local",
        choices=["local", "openai"],
        help="local in-process model, or an OpenAI-compatible server (vLLM, llama.cpp)",
    )
    g.add_argument(
        "--base-url",
        default=os.environ.get("SPECEDIT_BASE_URL"),
        help="server URL for --backend openai, e.g. http://127.0.0.1:8000/v1",
    )
    g.add_argument(
        "--api-key",
        default=None,
        help="API key for --backend openai (default: $SPECEDIT_API_KEY or $OPENAI_API_KEY)",
    )
