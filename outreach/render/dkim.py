"""DKIM signing (RFC 6376) with dkimpy, after every header is in place.

`h=` covers From, To, Subject, Date, Message-ID, List-Id, List-Unsubscribe and
List-Unsubscribe-Post (RFC 8058 §4 requires both unsubscribe headers to be signed) and the
MIME headers; From is signed once more than it occurs, so a second From cannot be added
without breaking the signature. Canonicalisation relaxed/relaxed survives the whitespace
changes relays make. The key is parsed once, when the signer is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import dkim

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


@dataclass(frozen=True, slots=True)
class Signer:
    selector: str
    domain: str
    private_key: bytes  # PEM (PKCS#1 or PKCS#8 RSA)

    def __post_init__(self) -> None:
        try:
            dkim.crypto.parse_pem_private_key(self.private_key)
        except Exception as e:  # dkimpy raises several types for a bad key
            raise ConfigError(f"DKIM private key unusable: {e}") from None
        if not self.selector or not self.domain:
            raise ConfigError("DKIM needs a selector and a domain")

    def signature(self, message: bytes) -> bytes:
        """The `DKIM-Signature:` header line(s) for `message`, CRLF-terminated."""
        header: bytes = dkim.sign(
            message,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.private_key,
            include_headers=list(SIGNED_HEADERS),
            canonicalize=(b"relaxed", b"relaxed"),
            linesep=b"\r\n",
        )
        return header

    def sign(self, message: bytes) -> bytes:
        """`message` with its DKIM-Signature prepended."""
        return self.signature(message) + message


def from_settings(settings: Settings, domain: str | None = None) -> Signer | None:
    """The configured signer, or None when no key is set (signing off)."""
    if settings.dkim_private_key is None:
        return None
    if not settings.dkim_selector:
        raise ConfigError("OUTREACH_DKIM_PRIVATE_KEY is set but OUTREACH_DKIM_SELECTOR is not")
    pem = settings.dkim_private_key.get_secret_value()
    # A key passed through an environment variable often has its newlines written as \n.
    pem = pem.replace("\\n", "\n").strip() + "\n"
    return Signer(settings.dkim_selector, domain or settings.mail_domain, pem.encode("ascii"))
