"""DKIM signing (RFC 6376), after every header is in place: dkimpy's parsing, canonicalisation
and header selection, the signature itself through OpenSSL (the `cryptography` package).

dkimpy signs RSA with Python integers (~7 ms per message with a 2048-bit key); OpenSSL does
the same PKCS#1 v1.5 signature over the same SHA-256 digest in well under a millisecond.
dkimpy has no hook for its signing primitive, so this module builds the header the way
`dkim.DKIM.sign` does (same tags, same order, same folding) from dkimpy's own pieces, and
signs the digest with OpenSSL. The output verifies with dkimpy and with OpenDKIM (tests).

An Ed25519 key (RFC 8463, `a=ed25519-sha256`) signs the same way; a signer's `beside` puts
a second signature on the message, e.g. an Ed25519 one beside the RSA one, each under its own
selector (OUTREACH_DKIM_ED25519_SELECTOR, OUTREACH_DKIM_ED25519_PRIVATE_KEY): receivers that
know Ed25519 check it, the others the RSA one.

`h=` covers From, To, Subject, Date, Message-ID, List-Id, List-Unsubscribe and
List-Unsubscribe-Post (RFC 8058 §4 requires both unsubscribe headers to be signed) and the
MIME headers; From is signed once more than it occurs, so a second From cannot be added
without breaking the signature. Canonicalisation relaxed/relaxed survives the whitespace
changes relays make. The key is parsed once, when the signer is built.

Key rotation is by selector (docs/delivery.md): publish the new key's TXT record under a new
selector, switch OUTREACH_DKIM_SELECTOR and the key together, and keep the old record in DNS
until mail signed with it can no longer be in transit or in a verifier's queue (a week).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass, field

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils
from dkim.canonicalization import CanonicalizationPolicy, strip_trailing_lines

from outreach.errors import ConfigError
from outreach.settings import Settings

SIGNED_HEADERS: tuple[bytes, ...] = (
    b"from",
    b"from",  # oversigned: an added From breaks the signature
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
)
_CANON = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
_SIGNED = frozenset(SIGNED_HEADERS)
# dkimpy's relaxed canonicalisation (dkim.canonicalization.Relaxed), step for step, with the
# patterns compiled once: dkimpy looks each one up in re's cache per header and per call.
_NEWLINE = re.compile(b"\r?\n")
_WSP = re.compile(b"[\t ]+")
_TRAILING_WSP = re.compile(b"[\t ]+\r\n")
_NAME = b"DKIM-Signature"
_PLACEHOLDER = b"0" * 60  # folds b= onto its own line, as dkimpy does


@dataclass(frozen=True, slots=True)
class Signer:
    selector: str
    domain: str
    private_key: bytes  # PEM: RSA (PKCS#1 or PKCS#8) or Ed25519 (PKCS#8)
    beside: Signer | None = None  # a second signature (e.g. Ed25519 beside RSA, RFC 8463)
    _key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.selector or not self.domain:
            raise ConfigError("DKIM needs a selector and a domain")
        try:
            key = serialization.load_pem_private_key(self.private_key, password=None)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"DKIM private key unusable: {e}") from None
        if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise ConfigError("DKIM private key unusable: use an RSA or an Ed25519 key")
        if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 1024:
            raise ConfigError("DKIM private key unusable: RSA keys need at least 1024 bits")
        object.__setattr__(self, "_key", key)

    @property
    def algorithm(self) -> bytes:
        return (
            b"ed25519-sha256" if isinstance(self._key, ed25519.Ed25519PrivateKey) else b"rsa-sha256"
        )

    def dns_record(self) -> str:
        """The TXT record to publish at `<selector>._domainkey.<domain>`."""
        pub = self._key.public_key()
        if isinstance(pub, ed25519.Ed25519PublicKey):
            raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()
        der = pub.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()

    def signature(self, message: bytes, *, now: float | None = None) -> bytes:
        """The `DKIM-Signature:` header line(s) for `message`, CRLF-terminated."""
        headers, body = dkim.rfc822_parse(message)
        bodyhash = base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest())
        domain = self.domain.encode("ascii")
        fields = [
            (b"v", b"1"),
            (b"a", self.algorithm),
            (b"c", _CANON.to_c_value()),
            (b"d", domain),
            (b"i", b"@" + domain),
            (b"q", b"dns/txt"),
            (b"s", self.selector.encode("ascii")),
            (b"t", str(int(time.time() if now is None else now)).encode("ascii")),
            (b"h", b" : ".join(SIGNED_HEADERS)),
            (b"bh", bodyhash),
            (b"b", _PLACEHOLDER),
        ]
        value = b"; ".join(b"=".join(f) for f in fields)
        value = dkim.RE_BTAG.sub(b"\\1", dkim.fold(value, namelen=len(_NAME), linesep=b"\r\n"))
        h = hashlib.sha256()
        dkim.hash_headers(
            h,
            _CANON,
            _relaxed_headers(headers),
            SIGNED_HEADERS,
            (_NAME, b" " + value),
            {},
        )
        fields[-1] = (b"b", base64.b64encode(self._sign(h.digest())))
        value = b"; ".join(b"=".join(f) for f in fields) + b"\r\n"
        folded: bytes = dkim.fold(value, namelen=len(_NAME), linesep=b"\r\n")
        return _NAME + b": " + folded

    def _sign(self, digest: bytes) -> bytes:
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return self._key.sign(digest)  # RFC 8463: Ed25519 over the SHA-256 digest
        return self._key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))

    def sign(self, message: bytes) -> bytes:
        """`message` with its DKIM-Signature(s) prepended (each covers the message as it was
        before any signature was added: `h=` never lists DKIM-Signature)."""
        second = self.beside.signature(message) if self.beside is not None else b""
        return second + self.signature(message) + message


def _relaxed_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`Relaxed.canonicalize_headers` of the headers `h=` can select (the others are never
    hashed: dkimpy's header selection skips them), in their order."""
    out = []
    for name, value in headers:
        canon = name.lower().rstrip()
        if canon in _SIGNED:
            out.append((canon, _WSP.sub(b" ", _NEWLINE.sub(b"", value)).strip() + b"\r\n"))
    return out


def _relaxed_body(body: bytes) -> bytes:
    """`Relaxed.canonicalize_body`."""
    body = strip_trailing_lines(_WSP.sub(b" ", _TRAILING_WSP.sub(b"\r\n", body)))
    return b"" if body == b"\r\n" else body


def from_settings(settings: Settings, domain: str | None = None) -> Signer | None:
    """The configured signer, or None when no key is set (signing off)."""
    if settings.dkim_private_key is None:
        return None
    if not settings.dkim_selector:
        raise ConfigError("OUTREACH_DKIM_PRIVATE_KEY is set but OUTREACH_DKIM_SELECTOR is not")
    domain = domain or settings.mail_domain
    beside = None
    if settings.dkim_ed25519_private_key is not None:
        if not settings.dkim_ed25519_selector:
            raise ConfigError(
                "OUTREACH_DKIM_ED25519_PRIVATE_KEY is set but OUTREACH_DKIM_ED25519_SELECTOR is not"
            )
        key = _pem(settings.dkim_ed25519_private_key.get_secret_value())
        beside = Signer(settings.dkim_ed25519_selector, domain, key)
    pem = _pem(settings.dkim_private_key.get_secret_value())
    return Signer(settings.dkim_selector, domain, pem, beside)


def _pem(text: str) -> bytes:
    # A key passed through an environment variable often has its newlines written as \n.
    return (text.replace("\\n", "\n").strip() + "\n").encode("ascii")
