"""Model text made safe to print: control characters shown as escapes instead of obeyed by the terminal.

A model (or a file it copies) can emit ESC sequences: CSI ones move the cursor and recolour or erase
what the user reads, OSC ones set the window title, write the clipboard or forge hyperlinks. Anything the
CLI prints from model text goes through :func:`escape_controls`, so a diff shows ``\\x1b[2J`` rather than
clearing the screen. Bidirectional overrides are escaped too: they can make a printed line read
differently from the code it holds ("Trojan Source").
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, a carriage return not ending a line, DEL, C1 controls, bidi overrides.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]|\r(?!\n)")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every character that could drive a terminal written as a visible escape."""
    return _UNSAFE.sub(_escape, text)
