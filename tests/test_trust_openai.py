"""Stop reasons from an OpenAI-compatible server: ``finish_reason=length`` never becomes a Proposal."""

from __future__ import annotations

from pathlib import Path

from decoding.events import Error
from decoding.prompts import fence_open
from decoding.session import CutOff, Proposal, propose_edit
from tests.openai_server import ChatServer
from tests.test_openai_backend import FENCE, REQUEST, backend_for, project, server, tiny

__all__ = ["project", "server", "tiny"]  # the fixtures, shared with the backend's own tests


def test_length_finish_is_a_cut_off_not_a_proposal(server: ChatServer, project: Path) -> None:
    server.behaviour.answer_prefix = FENCE + "def add(a: int, b: int) -> int:\n"  # then 24 model tokens
    outputs = list(propose_edit(backend_for(server), REQUEST))
    cut = outputs[-1]
    assert isinstance(cut, CutOff) and not any(isinstance(o, Proposal) for o in outputs)
    assert cut.partial.startswith("def add(a: int, b: int) -> int:\n")
    assert cut.partial_ids == ()  # a server reports text only: continuation resends the text


def test_vllm_continues_the_cut_off_answer_after_the_prefill(server: ChatServer, project: Path) -> None:
    server.behaviour.owned_by = "vllm"
    cut = list(propose_edit(backend_for(server), REQUEST))[-1]
    assert isinstance(cut, CutOff)
    list(propose_edit(backend_for(server), cut.resume()))
    body = server.exchanges[-1].body
    assert body["messages"][-1] == {"role": "assistant", "content": fence_open(REQUEST) + cut.partial}
    assert body["continue_final_message"] is True


def test_server_without_prefill_refuses_to_continue(server: ChatServer, project: Path) -> None:
    server.behaviour.answer_prefix = FENCE
    cut = list(propose_edit(backend_for(server), REQUEST))[-1]
    assert isinstance(cut, CutOff)
    asked = len(server.exchanges)
    error = list(propose_edit(backend_for(server), cut.resume()))[-1]
    assert isinstance(error, Error) and error.kind == "budget" and len(server.exchanges) == asked
