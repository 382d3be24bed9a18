"""What no person should read: a code from the label catalogue (a Latin-letter key such as
`OUTSIDE_SEND_WINDOW`, `tokio_marine`, `campaign.approve`, `done`) or an ISO timestamp.

Used on every console and customer page (visible text) and on every human CLI output.
"""

from __future__ import annotations

import re

from outreach import labels

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_EMAIL = re.compile(r"[\w.+-]+@[\w.-]+")
_URL = re.compile(r"https?://\S+|/(?:u|preferences|staff|api)/\S*")
# A command shown for the reader to type (`outreach gate explain … --channel email`) is not a
# label: its words are the command's own.
_COMMAND = re.compile(r"\boutreach [^\n、。（）]*")
# Latin words that are fine in Japanese text and also happen to be catalogue keys.
ALLOWED: frozenset[str] = frozenset()


def codes() -> frozenset[str]:
    out: set[str] = set()
    for table in labels.GROUPS.values():
        for key in table:
            if re.fullmatch(r"[A-Za-z][A-Za-z_.]*[A-Za-z]", key) and len(key) >= 3:
                out.add(key)
    return frozenset(out - ALLOWED - {"True", "False", "true", "false", "yes"})


_CODES = codes()
_WORD = re.compile(r"(?<![A-Za-z0-9_.@/-])([A-Za-z][A-Za-z_.]*[A-Za-z])(?![A-Za-z0-9_@/-])")


def findings(text: str) -> list[str]:
    """Every catalogue code and ISO timestamp in `text` (addresses, URLs and commands aside)."""
    clean = _COMMAND.sub(" ", _URL.sub(" ", _EMAIL.sub(" ", text)))
    found = [m[0] for m in _ISO.finditer(clean)]
    for m in _WORD.finditer(clean):
        word = m[1].rstrip(".")
        if word in _CODES:
            found.append(word)
    return found
