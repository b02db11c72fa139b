"""One error base and one exit-code table, so the same failure exits the same way from every command.

Every layer raises a subclass of :class:`SpeceditError` carrying a user-facing message, an optional hint
(what to do about it) and the exit code of its kind of failure. ``app/cli.py`` is the one place that turns
such an error into ``error: ...`` / ``hint: ...`` on stderr and the process's exit status; the TUI shows
the same message and hint. Scripts and CI can branch on the exit code alone; the codes are
:data:`EXIT_CODES` (also printed at the end of ``specedit --help``).
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """The process exit statuses of ``specedit``; :data:`EXIT_CODES` says what each one means."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    PROPOSAL_REFUSED = 3
    REFUSED = 4
    MODEL = 5
    INTERRUPTED = 130


EXIT_CODES: dict[ExitCode, str] = {
    ExitCode.OK: "ok",
    ExitCode.INTERNAL: "unexpected internal error (a bug: please report it)",
    ExitCode.USAGE: "usage or bad input (bad option value, missing file, unreadable dataset or config file)",
    ExitCode.PROPOSAL_REFUSED: "proposal refused (checks failed without --force, answer cut off by the "
    "budget, no code block, lazy answer that cannot be merged)",
    ExitCode.REFUSED: "git or file refusal (dirty/locked repository, file changed on disk, binary or "
    "oversized file, outside the folder)",
    ExitCode.MODEL: "model or backend failure (load, fetch, server, out of memory, prompt too long)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


def exit_codes_help() -> str:
    """The table as the epilog of ``specedit --help``."""
    return "exit codes:\n" + "".join(f"  {int(code):<4} {meaning}\n" for code, meaning in EXIT_CODES.items())


class SpeceditError(Exception):
    """A failure worded for the user; ``exit_code`` says which row of the table it belongs to.

    ``str(error)`` is the message alone, so callers that only print it (the TUI's notes line) keep working.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(SpeceditError):
    """The command line, a config file or an input file is wrong: the user can fix it and run again."""

    exit_code = ExitCode.USAGE


class ProposalRefused(SpeceditError):
    """The model answered, but the answer must not reach the file (unchecked, cut off, no code block)."""

    exit_code = ExitCode.PROPOSAL_REFUSED


class Refused(SpeceditError):
    """Git or the file system state forbids the step (dirty, locked, changed on disk, outside the folder)."""

    exit_code = ExitCode.REFUSED


class BackendFailure(SpeceditError):
    """The model or the server could not answer (load, fetch, network, out of memory, context)."""

    exit_code = ExitCode.MODEL


def format_error(error: SpeceditError) -> str:
    """``error: message`` plus ``hint: ...`` when there is one; what stderr shows for every command."""
    lines = [f"error: {error.message}"]
    if error.hint:
        lines.append(f"hint: {error.hint}")
    return "\n".join(lines)
