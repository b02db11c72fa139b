"""Applying a reviewed proposal: the git commit, then what personalisation learns from it.

One function for the TUI and ``specedit edit`` so both record accepted edits the same way.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from common.redact import model_label
from decoding.events import Stats
from decoding.personal.cache import EditCache
from decoding.personal.log import EditLog, EditRecord, default_log_path
from decoding.request import EditBackend, EditRequest
from decoding.session import Proposal
from vcs.repo import EditMeta, EditRepo

log = logging.getLogger(__name__)


def edit_meta(backend: EditBackend, stats: Stats) -> EditMeta:
    """What the commit records about how the edit was made: the method that ran, not the one asked for.

    ``--method auto`` becomes lookup or multilayer only once the models are loaded, and an answer from
    the edit cache ran no model at all; either way the history should say what happened.
    """
    method, engine = backend.method_and_engine()
    return EditMeta(
        model=backend.describe(),
        method="cached" if stats.cached else method,
        engine=engine,
        new_tokens=stats.new_tokens,
        chars_per_s=stats.chars_per_s,
        tokens_per_s=stats.tokens_per_s,
        speedup=stats.tokens_per_target_forward or None,
    )


def apply_proposal(
    repo: EditRepo,
    file: Path,
    request: EditRequest,
    proposal: Proposal,
    applied_text: str,
    meta: EditMeta,
    cache: EditCache | None,
) -> str:
    """Commit ``applied_text`` (the accepted hunks) and feed the cache and the tuning log; the sha.

    ``apply_edit`` checks everything (file unchanged since read, writable, repository state) before it
    commits the user's own changes to the file in their own commit, so a refused edit commits nothing.
    The cache and the log are best effort: a full disk or a damaged log there must cost a warning,
    never a successful commit.
    """
    sha = repo.apply_edit(file, applied_text, request.original, instruction=request.instruction, meta=meta)
    if proposal.stats.cached:
        return sha
    try:
        if cache is not None and proposal.cache_identity is not None and applied_text == proposal.new_text:
            cache.put(request, proposal.cache_identity, applied_text)
        record = EditRecord.create(
            replace(request, format=proposal.format_used),
            proposal.raw,
            applied_text,
            meta.method,
            model_label(meta.model),  # the log keeps no server address or credentials
            proposal.stats,
        )
        EditLog(default_log_path(file.parent)).append(record)
    except (OSError, ValueError) as exc:
        log.warning("could not record the accepted edit for personalisation: %s", exc)
    return sha
