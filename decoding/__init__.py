"""The decoding engine, behind a small facade.

The UI and the command line need only what is named here: an :class:`EditRequest` goes in, a stream of
events (:class:`Span`, :class:`Stats`, then one :class:`Done` or :class:`Error`) comes out, and
:func:`propose_edit` turns that stream into a checked :class:`Proposal`. The floors underneath:

- ``engine/``   the multi-layer speculation loop (prompt lookup -> draft -> target), KV cache, detokenizer
- ``models/``   resolving, fetching, converting and loading target/draft models
- ``backends/`` who answers a request: the in-process engine or an OpenAI-compatible server
- ``lazy/``     tree-sitter merge of answers that show only the changed blocks
- ``personal/`` the edit cache, the accepted-edit log and LoRA tuning of the draft
- ``bench/``    the benchmark harness

Nothing here imports torch: the facade is cheap, the floors load what they need when used.
"""

from decoding.events import Done, Error, Event, Span, Stats
from decoding.request import EditBackend, EditRequest
from decoding.session import Proposal, propose_edit

__all__ = [
    "Done",
    "EditBackend",
    "EditRequest",
    "Error",
    "Event",
    "Proposal",
    "Span",
    "Stats",
    "propose_edit",
]
