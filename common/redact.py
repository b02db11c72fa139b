"""Keeping credentials and server addresses out of what specedit prints, commits and logs.

Users paste URLs such as ``http://user:KEY@host/v1?api-key=KEY`` into ``--base-url``. The key must reach
the server but nothing else: not the terminal, the status bar, a commit trailer (pushed to the world) or
the local edit log. Commits and logs get only the model's name: the server's address says nothing
about the edit and may itself be private.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_VIA_URL = re.compile(r"\s+via\s+[A-Za-z][A-Za-z0-9+.-]*://\S+")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def redact_url(url: str) -> str:
    """``url`` without its userinfo, query and fragment (where keys and tokens hide), for display."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal needs its brackets back
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def model_label(text: str) -> str:
    """A backend description reduced to what a commit or log may keep: no ``via URL``, no URL at all."""
    return _URL.sub("<server>", _VIA_URL.sub("", text)).strip()
