"""The edit pipeline: answer extraction, lazy merge and the whole-file fallback."""

from __future__ import annotations

import threading
from dataclasses import replace

from decoding.events import Done, Error, Span
from decoding.request import EditRequest
from decoding.session import CutOff, Proposal, propose_edit
from tests.scripted_backend import ScriptedBackend

ORIGINAL = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"


def run(backend, fmt="whole", path="m.py", cancel=None):
    req = EditRequest(path=path, original=ORIGINAL, instruction="change b")
    return list(propose_edit(backend, req, fmt, cancel))


def test_whole_answer_becomes_proposal_and_events_pass_through():
    new = ORIGINAL.replace("return 2", "return 3")
    events = run(ScriptedBackend([new + "```\n"]))
    assert any(isinstance(e, Span) for e in events)
    assert isinstance(events[-2], Done)
    proposal = events[-1]
    assert isinstance(proposal, Proposal)
    assert proposal.new_text == new
    assert proposal.format_used == "whole"


def test_lazy_answer_is_merged():
    lazy = "# ... existing code ...\n\n\ndef b():\n    return 3\n```"
    events = run(ScriptedBackend([lazy]), fmt="lazy")
    proposal = events[-1]
    assert isinstance(proposal, Proposal)
    assert proposal.format_used == "lazy"
    assert proposal.new_text == ORIGINAL.replace("return 2", "return 3")


def test_auto_falls_back_to_whole_file_when_merge_refuses():
    unparsable = "# ... existing code ...\ndef b(:\n    return 3\n```"
    whole = ORIGINAL.replace("return 2", "return 4") + "```"
    backend = ScriptedBackend([unparsable, whole])
    events = run(backend, fmt="auto")
    proposal = events[-1]
    assert isinstance(proposal, Proposal)
    assert proposal.format_used == "whole"
    assert proposal.note and "refused" in proposal.note
    assert [r.format for r in backend.requests] == ["lazy", "whole"]
    assert proposal.new_text == ORIGINAL.replace("return 2", "return 4")


def test_lazy_only_reports_refusal_as_error():
    events = run(ScriptedBackend(["# ... existing code ...\ndef b(:\n```"]), fmt="lazy")
    assert isinstance(events[-1], Error)
    assert not any(isinstance(e, Proposal) for e in events)


def test_auto_asks_whole_file_for_languages_without_a_grammar():
    backend = ScriptedBackend(["hello\n```"])
    events = list(propose_edit(backend, EditRequest("notes.txt", "hi\n", "x"), "auto"))
    assert backend.requests[0].format == "whole"
    assert isinstance(events[-1], Proposal)


def test_backend_error_ends_the_stream_without_proposal():
    events = run(ScriptedBackend(["x"], fail_with="model failed to load"))
    assert isinstance(events[-1], Error)
    assert events[-1].message == "model failed to load"


def test_cancelled_generation_never_reaches_review():
    cancel = threading.Event()
    cancel.set()
    events = run(ScriptedBackend([ORIGINAL + "```"]), cancel=cancel)
    assert isinstance(events[-1], Done) and events[-1].cancelled
    assert not any(isinstance(e, Proposal) for e in events)


def test_cache_hit_answers_without_running_the_backend():
    from decoding.personal.cache import EditCache, output_identity

    cache = EditCache(None)
    req = EditRequest(path="m.py", original=ORIGINAL, instruction="change b")
    backend = ScriptedBackend(["unused```"])
    cache.put(req, output_identity(backend.identity(), "whole"), "cached text\n")
    events = list(propose_edit(backend, req, "whole", cache=cache))
    assert backend.requests == []
    assert len(events) == 1 and events[0].new_text == "cached text\n" and events[0].stats.cached


def test_budget_cut_answer_never_becomes_a_proposal_and_resumes_where_it_stopped():
    new = ORIGINAL.replace("return 2", "return 3")
    backend = ScriptedBackend([new + "```\n"], budget=20)
    events = run(backend)
    cut = events[-1]
    assert isinstance(cut, CutOff) and not any(isinstance(e, Proposal) for e in events)
    assert cut.partial == new[:20] and cut.tokens == 20 and "cut off at 20 tokens" in cut.message
    resumed = list(propose_edit(backend, cut.resume(), "whole"))
    assert backend.requests[-1].prefix == new[:20]
    again = resumed[-1]
    assert isinstance(again, CutOff) and again.partial == new[:40]  # another budget, not a restart
    backend.budget = None
    proposal = list(propose_edit(backend, again.resume(), "whole"))[-1]
    assert isinstance(proposal, Proposal) and proposal.new_text == new
    assert proposal.raw == new + "```\n"


def test_budget_spent_on_chatter_after_the_closed_block_still_gives_the_file():
    new = ORIGINAL.replace("return 2", "return 3")
    events = run(ScriptedBackend([new + "```\nThis change makes b return 3 because"], budget=len(new) + 10))
    assert isinstance(events[-1], Proposal) and events[-1].new_text == new


def test_continuation_bypasses_the_cache():
    from decoding.personal.cache import EditCache, output_identity

    cache = EditCache(None)
    req = EditRequest(path="m.py", original=ORIGINAL, instruction="change b")
    backend = ScriptedBackend([ORIGINAL + "```\n"])
    cache.put(req, output_identity(backend.identity(), "whole"), "cached text\n")
    events = list(propose_edit(backend, replace(req, prefix="def a"), "whole", cache=cache))
    assert len(backend.requests) == 1 and events[-1].new_text == ORIGINAL


def test_prose_answer_is_refused_with_the_models_words():
    events = run(ScriptedBackend(["I'm sorry, but I can't help with that."]))
    error = events[-1]
    assert isinstance(error, Error) and error.kind == "no-code"
    assert "I'm sorry, but I can't help with that." in error.message
    assert not any(isinstance(e, Proposal) for e in events)


def test_every_proposal_carries_its_findings():
    broken = "def a(:\n    return 1\n\n\ndef b():\n    return c\n```\n"
    proposal = run(ScriptedBackend([broken]))[-1]
    assert {f.kind for f in proposal.findings} == {"syntax"}
    assert proposal.findings[0].line == 1
    undefined = ORIGINAL.replace("return 2", "return c") + "```\n"
    assert [(f.kind, f.line) for f in run(ScriptedBackend([undefined]))[-1].findings] == [("names", 6)]
    assert [f.kind for f in run(ScriptedBackend([ORIGINAL + "```\n"]))[-1].findings] == ["no-change"]


def test_cached_answer_is_checked_too():
    from decoding.personal.cache import EditCache, output_identity

    cache = EditCache(None)
    req = EditRequest(path="m.py", original=ORIGINAL, instruction="change b")
    backend = ScriptedBackend(["unused"])
    cache.put(req, output_identity(backend.identity(), "whole"), ORIGINAL)
    events = list(propose_edit(backend, req, "whole", cache=cache))
    assert [f.kind for f in events[-1].findings] == ["no-change"]


def test_local_engine_continuation_equals_one_run_with_the_larger_budget():
    """Lossless greedy: 12 tokens, then 12 more after them, are the first 24 tokens of one run."""
    import torch

    from decoding.backends.local import LocalBackend
    from decoding.engine.config import SpecConfig
    from decoding.models.load import LoadedModels
    from tests.spec_support import lively_llama
    from tests.tiny_models import make_byte_tokenizer

    models = LoadedModels(lively_llama(1), None, make_byte_tokenizer(), torch.device("cpu"), "t", None)
    req = EditRequest(path="m.py", original=ORIGINAL, instruction="change b")

    def last(budget: int, request: EditRequest) -> CutOff:
        result = list(propose_edit(LocalBackend(models, SpecConfig(method="lookup"), budget), request))[-1]
        assert isinstance(result, CutOff), result
        return result

    first = last(12, req)
    continued = last(12, first.resume())
    assert len(continued.partial_ids) == 24
    assert continued.partial_ids == last(24, req).partial_ids


def test_whole_file_fallback_after_a_continued_lazy_answer_starts_afresh():
    unparsable = "# ... existing code ...\ndef b(:\n    return 3\n```"
    backend = ScriptedBackend([unparsable, ORIGINAL.replace("return 2", "return 4") + "```"])
    continued = EditRequest("m.py", ORIGINAL, "change b", "lazy", prefix="# ... ", prefix_ids=(1, 2))
    proposal = list(propose_edit(backend, continued, "auto"))[-1]
    assert isinstance(proposal, Proposal) and proposal.format_used == "whole"
    assert (backend.requests[1].prefix, backend.requests[1].prefix_ids) == ("", ())
