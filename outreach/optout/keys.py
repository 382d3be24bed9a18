"""The opt-out token key ring, built from the settings.

Tokens are issued with the current key (`secret_key`) under a key id derived from the key
itself (a short fingerprint), so changing the key can never make new tokens collide with old
ones. Retired keys stay valid for verification while listed in `OUTREACH_OLD_SECRET_KEYS`
(`kid=key` pairs or bare keys, comma-separated); each is found by its label and by its
fingerprint, which is the id the tokens it issued carry.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field

from outreach.errors import ConfigError
from outreach.settings import Settings

_LABEL = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


@dataclass(frozen=True)
class KeyRing:
    kid: str
    key: bytes
    verify: dict[str, bytes] = field(default_factory=dict)  # kid → key, current included


def fingerprint(key: bytes) -> str:
    """A 6-character public id of a key (24 bits of a domain-separated SHA-256)."""
    digest = hashlib.sha256(b"outreach/optout-token/kid\x00" + key).digest()
    return base64.urlsafe_b64encode(digest[:3]).decode()


def parse_old(spec: str) -> dict[str, bytes]:
    """`kid=key` pairs or bare keys. A bare key may itself hold `=` (base64 padding, say),
    so every item is also kept whole, under its own fingerprint: a token issued under it
    carries that fingerprint and still verifies, whichever reading was meant."""
    ring: dict[str, bytes] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        whole = item.encode()
        ring[fingerprint(whole)] = whole
        label, sep, rest = item.partition("=")
        if sep and _LABEL.match(label) and rest:
            key = rest.encode()
            ring.setdefault(label, key)
            ring.setdefault(fingerprint(key), key)
    return ring


def ring(settings: Settings) -> KeyRing:
    key = settings.secret()
    kid = fingerprint(key)
    old = settings.old_secret_keys
    verify = parse_old(old.get_secret_value()) if old is not None else {}
    for label, other in verify.items():
        if label == kid and other != key:
            raise ConfigError(f"OUTREACH_OLD_SECRET_KEYS: key id {label!r} is the current key's id")
    verify[kid] = key
    return KeyRing(kid=kid, key=key, verify=verify)
