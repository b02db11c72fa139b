"""The edit pipeline: answer extraction, lazy merge and the whole-file fallback."""

from __future__ import annotations

import threading

from decoding.events import Done, Error, Span
from decoding.request import EditRequest
from decoding.session import Proposal, propose_edit
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
    from decoding.personal.cache import EditCache

    cache = EditCache(None)
    req = EditRequest(path="m.py", original=ORIGINAL, instruction="change b")
    backend = ScriptedBackend(["unused```"])
    cache.put(req, backend.describe(), "cached text\n")
    events = list(propose_edit(backend, req, "whole", cache=cache))
    assert backend.requests == []
    assert len(events) == 1 and events[0].new_text == "cached text\n" and events[0].stats.cached
