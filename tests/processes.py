"""Child processes that behave like a command started at a terminal."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """``preexec_fn`` for a child that Ctrl-C must reach: SIGINT at its default, not inherited as ignored.

    A shell ignores SIGINT in jobs it starts in the background (``make test &``), and children inherit
    that, so a suite run that way would see the child ignore the test's Ctrl-C and time out. Python
    installs its KeyboardInterrupt handler at start-up only where SIGINT is not ignored.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
