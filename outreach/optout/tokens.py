"""Opt-out tokens: opaque, URL-safe, authenticated capabilities carried in mail links.

A token binds one customer, one outbox message and the scope of that message (its campaign
or reminder kind, purpose, category and advertising flag). Version 2 (issued now) is
AES-SIV (RFC 5297, deterministic authenticated encryption) from the `cryptography` library:

    k_siv      = HKDF-SHA256(key, info="outreach/optout-token/aes-siv/v2", 64 bytes)
    sealed     = AES-256-SIV(k_siv).encrypt(payload, associated_data=[version | kid])
    token      = base64url(version | len(kid) | kid | sealed)   (no padding)

so nothing in the URL can be read (ids and scopes are opaque) and nothing can be changed:
SIV authenticates the payload and the header. Deterministic: re-rendering a message gives
the same link. The key id (kid) is in clear so that a token issued under an old key still
verifies after a rotation while that key is kept.

Version 1 tokens (an HMAC-SHA256 SIV-style construction, in links already sent) are still
verified, never issued: the links in mail sent before the change keep working, through key
rotations too, for as long as the key that issued them is in the ring.

Pure: no settings, no I/O. `optout.keys` builds the key ring from the settings.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from outreach.errors import OutreachError

VERSION = 2  # issued
LEGACY_VERSION = 1  # verified only
TAG_LEN = 16
_KID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_TEXT = re.compile(r"^[A-Za-z0-9_:.\-]{0,64}$")
_MAX_TOKEN = 400  # characters; a real token is about 80


class TokenError(OutreachError):
    """The token is malformed, signed by an unknown key, or altered. Deliberately vague."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid token says. `scope` is "campaign:<id>" or "kind:<kind>"."""

    kid: str
    customer_id: int
    outbox_id: int | None
    scope: str
    purpose: str = ""
    category: str = ""
    advertising: bool = False


def issue(
    key: bytes,
    kid: str,
    *,
    customer_id: int,
    outbox_id: int | None,
    scope: str,
    purpose: str = "",
    category: str = "",
    advertising: bool = False,
) -> str:
    """A token for one message. Deterministic: the same claims and key give the same token."""
    if not _KID.match(kid):
        raise ValueError(f"invalid key id {kid!r}")
    if customer_id < 0 or (outbox_id is not None and outbox_id < 0):
        raise ValueError("ids must be non-negative")
    for name, text in (("scope", scope), ("purpose", purpose), ("category", category)):
        if not _TEXT.match(text):
            raise ValueError(f"invalid {name} {text!r}")
    if not scope:
        raise ValueError("a token needs a scope")
    payload = b"".join(
        (
            _varint(customer_id),
            _varint(0 if outbox_id is None else outbox_id + 1),
            bytes([1 if advertising else 0]),
            _text(scope),
            _text(purpose),
            _text(category),
        )
    )
    header = bytes([VERSION, len(kid)]) + kid.encode()
    sealed = _siv(key).encrypt(payload, [header])
    return base64.urlsafe_b64encode(header + sealed).rstrip(b"=").decode()


def verify(keys: Mapping[str, bytes], token: str) -> TokenClaims:
    """The claims of an untampered token signed by one of `keys` (kid → key), else TokenError."""
    raw = _decode(token)
    if len(raw) < 2 or raw[0] not in (VERSION, LEGACY_VERSION):
        raise TokenError("invalid token")
    kid_len = raw[1]
    if len(raw) < 2 + kid_len + TAG_LEN + 4:
        raise TokenError("invalid token")
    header = raw[: 2 + kid_len]
    kid = header[2:].decode("ascii", errors="replace")
    key = keys.get(kid)
    if key is None:
        raise TokenError("invalid token")
    sealed = raw[len(header) :]
    if raw[0] == VERSION:
        try:
            payload = _siv(key).decrypt(sealed, [header])
        except InvalidTag:
            raise TokenError("invalid token") from None
    else:
        payload = _open_v1(key, header, sealed)
    try:
        return _parse(kid, payload)
    except (IndexError, ValueError, UnicodeDecodeError) as e:  # only with a leaked key
        raise TokenError("invalid token") from e


def optout_url(base_url: str, token: str) -> str:
    """The opt-out page and RFC 8058 one-click endpoint of one message."""
    return f"{base_url.rstrip('/')}/u/{token}"


def preferences_url(base_url: str, token: str) -> str:
    """The customer's preference page, reached with the token of any message they received."""
    return f"{base_url.rstrip('/')}/preferences/{token}"


def mailto_url(address: str, token: str) -> str:
    """A `mailto:` opt-out for List-Unsubscribe: the token travels in the subject.

    The subject, not a `+token` local part: a token is longer than the 64 characters an
    address's local part may have (RFC 5321 §4.5.3.1.1) and some relays fold its case.
    `optout ingest` also accepts `unsubscribe+<token>@…` where a relay supports it.
    """
    return f"mailto:{address}?subject=unsubscribe%20{token}"


# --- internals -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _siv(key: bytes) -> AESSIV:
    info = b"outreach/optout-token/aes-siv/v2"
    derived = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=info).derive(key)
    return AESSIV(derived)


def _open_v1(key: bytes, header: bytes, sealed: bytes) -> bytes:
    """The payload of a version 1 token (links sent before AES-SIV), or TokenError."""
    tag, body = sealed[:TAG_LEN], sealed[TAG_LEN:]
    mac_key, enc_key = _subkeys(key)
    payload = _xor(body, _keystream(enc_key, tag, len(body)))
    expected = hmac.new(mac_key, header + payload, hashlib.sha256).digest()[:TAG_LEN]
    if not hmac.compare_digest(tag, expected):
        raise TokenError("invalid token")
    return payload


def _subkeys(key: bytes) -> tuple[bytes, bytes]:
    mac = hmac.new(key, b"outreach/optout-token/mac/v1", hashlib.sha256).digest()
    enc = hmac.new(key, b"outreach/optout-token/enc/v1", hashlib.sha256).digest()
    return mac, enc


def _keystream(key: bytes, iv: bytes, n: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hmac.new(key, iv + counter.to_bytes(4, "big"), hashlib.sha256).digest()
        counter += 1
    return bytes(out[:n])


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return n, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _text(s: str) -> bytes:
    b = s.encode("ascii")
    return bytes([len(b)]) + b


def _read_text(data: bytes, pos: int) -> tuple[str, int]:
    n = data[pos]
    end = pos + 1 + n
    if end > len(data):
        raise ValueError("truncated")
    return data[pos + 1 : end].decode("ascii"), end


def _parse(kid: str, payload: bytes) -> TokenClaims:
    customer_id, pos = _read_varint(payload, 0)
    outbox, pos = _read_varint(payload, pos)
    flags = payload[pos]
    pos += 1
    scope, pos = _read_text(payload, pos)
    purpose, pos = _read_text(payload, pos)
    category, pos = _read_text(payload, pos)
    if pos != len(payload) or flags > 1:
        raise ValueError("trailing data")
    return TokenClaims(
        kid=kid,
        customer_id=customer_id,
        outbox_id=None if outbox == 0 else outbox - 1,
        scope=scope,
        purpose=purpose,
        category=category,
        advertising=bool(flags),
    )


def _decode(token: str) -> bytes:
    if not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN:
        raise TokenError("invalid token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as e:
        raise TokenError("invalid token") from e
    # Refuse non-canonical spellings (unused trailing bits, stray characters): one token,
    # one spelling, so no altered string is ever accepted.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        raise TokenError("invalid token")
    return raw
