"""`mailto:` unsubscribes: read the mails in a Maildir and record their opt-outs.

A mail client answering `List-Unsubscribe: <mailto:…>` sends a mail whose subject carries the
token (`unsubscribe <token>`, see `tokens.mailto_url`), or, where a relay keeps sub-addresses,
whose recipient is `unsubscribe+<token>@…`. Each valid token records the one-click scope
(config/optout.toml) with source "mailto", one transaction per mail. Re-reading the same
folder records nothing new. Mails without a valid token are reported, never fatal.
"""

from __future__ import annotations

import email.policy
import mailbox
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from outreach import bootstrap
from outreach.errors import NotFound
from outreach.optout import keys as keys_mod
from outreach.optout import policy as policy_mod
from outreach.optout import service, tokens

_TOKEN = re.compile(r"[A-Za-z0-9_-]{40,400}")
_ADDRESS_HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to")


@dataclass(slots=True)
class Report:
    messages: int = 0
    opted_out: int = 0  # a preference changed
    unchanged: int = 0  # valid, but already recorded (a re-run, a second mail)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (maildir key, why)

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "opted_out": self.opted_out,
            "unchanged": self.unchanged,
            "rejected": [{"key": k, "reason": r} for k, r in self.rejected],
        }


def candidates(msg: EmailMessage) -> list[str]:
    """Token-shaped strings from the recipient's sub-address, then from the subject."""
    found: list[str] = []
    for name in _ADDRESS_HEADERS:
        for value in msg.get_all(name, []):
            for local in re.findall(r"[^\s<>,\"@]+(?=@)", str(value)):
                _, plus, tag = local.partition("+")
                if plus:
                    found += _TOKEN.findall(tag)
    found += _TOKEN.findall(str(msg.get("subject", "")))
    return list(dict.fromkeys(found))


async def ingest(app: bootstrap.App, maildir: Path) -> Report:
    if not (maildir / "cur").is_dir() and not (maildir / "new").is_dir():
        raise NotFound(f"not a Maildir (no cur/ or new/): {maildir}")
    ring = keys_mod.ring(app.settings)
    policy = policy_mod.load(app.settings.config_dir / "optout.toml")
    box = mailbox.Maildir(maildir, factory=None, create=False)
    parser = BytesParser(policy=email.policy.default)
    report = Report()
    for key in sorted(box.keys()):
        report.messages += 1
        try:
            msg = parser.parsebytes(box.get_bytes(key))
            assert isinstance(msg, EmailMessage)
            claims = _first_valid(ring.verify, candidates(msg))
        except Exception as e:  # a malformed mail must not stop the others
            report.rejected.append((key, f"unreadable mail: {type(e).__name__}"))
            continue
        if claims is None:
            report.rejected.append((key, "no valid opt-out token"))
            continue
        try:
            async with app.sessions.begin() as s:
                changed = await service.one_click(
                    s, claims, policy, now=app.clock.now(), ua=None, source="mailto"
                )
        except NotFound:
            report.rejected.append((key, "no valid opt-out token"))
            continue
        if changed:
            report.opted_out += 1
        else:
            report.unchanged += 1
    return report


def _first_valid(ring: dict[str, bytes], found: list[str]) -> tokens.TokenClaims | None:
    for t in found:
        try:
            return tokens.verify(ring, t)
        except tokens.TokenError:
            continue
    return None
