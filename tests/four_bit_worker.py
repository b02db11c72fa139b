"""Run every method on a 4-bit NF4 target on the CPU and print the outputs as JSON (one process).

Run by tests/test_models_builtin_4bit.py in a subprocess: bitsandbytes is native code whose CPU path is
young, and a crash there must fail one test, not kill the test session. Exit status 77 means "no CPU
backend here" (the test skips with the reason printed on stderr).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

NO_BACKEND = 77


def main(folder: Path) -> int:
    import torch

    from decoding.engine.config import METHODS, SpecConfig
    from decoding.engine.loop import edit_stream
    from decoding.events import Done
    from decoding.models.load import load_models
    from decoding.models.store import ModelError
    from tests.spec_support import lively_llama, noisy_copy
    from tests.tiny_models import make_byte_tokenizer

    torch.set_num_threads(1)
    tokenizer = make_byte_tokenizer()
    for name, model in (("target", lively_llama(3)), ("draft", noisy_copy(3))):
        model.save_pretrained(folder / name)
        tokenizer.save_pretrained(folder / name)
    try:
        models = load_models(str(folder / "target"), str(folder / "draft"), device="cpu", load_in_4bit=True)
    except (ModelError, RuntimeError, NotImplementedError) as exc:
        print(f"bitsandbytes cannot load 4-bit weights on this CPU: {exc}", file=sys.stderr)
        return NO_BACKEND
    prompt = tokenizer("<|im_start|>user\nedit this file please<|im_end|>\n")["input_ids"]
    results: dict[str, object] = {"precision": models.describe()}

    def run(method: str, draft: object, original: list[int]) -> dict[str, object]:
        """The method's tokens and how many of them a layer other than the target proposed."""
        config = SpecConfig(method=method, max_new_tokens=48)  # type: ignore[arg-type]
        events = list(edit_stream(models.target, draft, tokenizer, prompt, original, config))
        done = events[-1]
        assert isinstance(done, Done), done
        speculated = sum(n for layer, n in done.stats.accepted.items() if layer != "target")
        return {"tokens": list(done.token_ids), "speculated": speculated}

    regular = run("regular", None, [])["tokens"]
    assert isinstance(regular, list)
    # An "original file" the output partly copies, so prompt lookup and the draft have work to do.
    original = regular[:20] + [ord("x"), ord("y")] + regular[24:]
    results["regular"] = regular
    for method in METHODS:
        results[f"{method} (real draft)"] = run(method, models.draft, original)
        results[f"{method} (early exit)"] = run(method, None, original)
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        sys.exit(main(Path(scratch)))
