"""The SMTP transport: a pool of reused aiosmtplib connections. The only module that imports
aiosmtplib.

`OUTREACH_SMTP_URL`: `smtp://host:port` (STARTTLS when the relay offers it),
`smtp+starttls://…` (STARTTLS required), `smtps://host:465` (TLS from the first byte),
with `user:password@` for AUTH. A dropped connection is replaced on its next use; a reply
is never raised, it is returned as a `SendResult` for the retry rules to judge.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aiosmtplib
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import normalize_message_line_endings

from outreach.errors import ConfigError
from outreach.gate import decision
from outreach.send.protocol import SendResult
from outreach.send.retry import enhanced_status


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    use_tls: bool = False
    start_tls: bool | None = None  # None: upgrade if offered; True: required; False: never
    username: str | None = None
    password: str | None = None
    validate_certs: bool = True
    timeout: float = 30.0


def parse_url(url: str) -> Relay:
    try:
        u = urlsplit(url)
        port = u.port
    except ValueError as e:
        raise ConfigError(f"invalid SMTP URL: {e}") from e
    scheme = u.scheme.lower()
    if scheme not in ("smtp", "smtps", "smtp+starttls") or not u.hostname:
        raise ConfigError(
            "invalid SMTP URL: use smtp://host:port, smtp+starttls://… or smtps://…, "
            "optionally with user:password@"
        )
    tls = scheme == "smtps"
    start: bool | None = True if scheme == "smtp+starttls" else (False if tls else None)
    return Relay(
        host=u.hostname,
        port=port or (465 if tls else 587 if start else 25),
        use_tls=tls,
        start_tls=start,
        username=unquote(u.username) if u.username else None,
        password=unquote(u.password) if u.password else None,
        validate_certs="insecure" not in u.query,
    )


_DROPPED = "connection: "


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
# A dot-atom local part at a plain domain: `email.utils.parseaddr` (which aiosmtplib's
# `quote_address` runs) gives such an address back unchanged, so it is written as it is.
_PLAIN_ADDRESS = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\Z")


@functools.lru_cache(maxsize=64)
def _quoted(address: str) -> bytes:
    """`<address>` exactly as aiosmtplib writes it on MAIL and RCPT (ValueError if unsafe):
    a plain address as it is; any other through aiosmtplib's own `quote_address`."""
    if _PLAIN_ADDRESS.match(address):
        return f"<{address}>".encode("ascii")
    return quote_address(address).encode("ascii")


def transmission_form(data: bytes) -> bool:
    """True if `data` is already what aiosmtplib's DATA would put on the wire before the
    final `.`: every line end CRLF, ending in CRLF, no line beginning with a dot (what the
    MIME writer builds: headers fold with a space, bodies are base64). aiosmtplib's two
    regex passes (line ends, dot-stuffing) would give back the same bytes."""
    n = data.count(b"\n")
    return (
        data.endswith(b"\r\n")
        and n == data.count(b"\r") == data.count(b"\r\n")
        and not data.startswith(b".")
        and b"\n." not in data
    )


async def _data(client: aiosmtplib.SMTP, data: bytes) -> aiosmtplib.SMTPResponse:
    """DATA with a message in transmission form (`transmission_form`), written as it is:
    the same bytes and replies as `SMTP.data`, without its two regex passes over the whole
    message (~0.13 ms each message). One send at a time holds a connection (the pool), so
    the DATA reply and the message's reply pair as in aiosmtplib."""
    start = await client.execute_command(b"DATA")
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    protocol = client.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    try:
        # Written and awaited with no turn of the loop between: the reply cannot arrive
        # before `read_response` expects it.
        protocol.write(data + b".\r\n")
        reply = await protocol.read_response(timeout=client.timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()
        raise
    if reply.code != 250:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)
    return reply


def _reply(code: int, message: str) -> SendResult:
    return SendResult(
        ok=200 <= code < 300,
        code=code,
        detail=f"{code} {message}"[:400],
        enhanced=enhanced_status(message),
    )


class SmtpTransport:
    """`size` connections, each used by one send at a time, opened lazily and kept open."""

    def __init__(
        self,
        relay: Relay,
        size: int,
        *,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.relay = relay
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        for _ in range(size):
            self._idle.put_nowait(
                aiosmtplib.SMTP(
                    hostname=relay.host,
                    port=relay.port,
                    username=relay.username,
                    password=relay.password,
                    use_tls=relay.use_tls,
                    start_tls=relay.start_tls,
                    validate_certs=relay.validate_certs,
                    tls_context=tls_context,
                    timeout=relay.timeout,
                    local_hostname=local_hostname,
                )
            )
        self.size = size

    async def send(
        self, permit: decision.Permit, envelope_from: str, recipients: Sequence[str], data: bytes
    ) -> SendResult:
        decision.verify(permit)  # the gate's seal, before a connection is taken
        client = await self._idle.get()
        try:
            reused = client.is_connected
            result = await self._send(client, envelope_from, recipients, data)
            if reused and result.detail.startswith(_DROPPED):
                # A kept-open connection the relay had closed while idle: not the message's
                # fault. Without a reply nothing was accepted, so one try on a fresh
                # connection cannot double a message.
                result = await self._send(client, envelope_from, recipients, data)
            return result
        finally:
            self._idle.put_nowait(client)

    async def _send(
        self, client: aiosmtplib.SMTP, envelope_from: str, recipients: Sequence[str], data: bytes
    ) -> SendResult:
        try:
            if not client.is_connected:
                await client.connect()
            refused, message = await self._transaction(client, envelope_from, recipients, data)
        except aiosmtplib.SMTPRecipientsRefused as e:
            first = e.recipients[0]
            return _reply(first.code, first.message)
        except (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPHeloError) as e:
            await self._drop(client)
            # The relay refused us, not the message: retry later (a config problem shows
            # in every attempt's detail).
            return SendResult(ok=False, code=None, detail=f"{e.code} {e.message}"[:400])
        except aiosmtplib.SMTPResponseException as e:
            if e.code == 421:  # the relay closes the connection after 421
                await self._drop(client)
            return _reply(e.code, e.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
            await self._drop(client)
            return SendResult(ok=False, code=None, detail=f"{_DROPPED}{e}"[:400])
        if refused:  # only with several recipients; one address per message here
            code, text = next(iter(refused.values()))
            return _reply(code, text)
        return SendResult(ok=True, code=250, detail=message[:400])

    async def _transaction(
        self, client: aiosmtplib.SMTP, sender: str, recipients: Sequence[str], data: bytes
    ) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
        """One mail transaction, as `aiosmtplib.SMTP.sendmail` runs it (EHLO if needed, SIZE
        when offered, MAIL, RCPT per recipient, DATA, RSET after a refusal), with each
        address parsed and checked once (`aiosmtplib.email.quote_address`, cached per
        address: the sender is the same for every message) instead of twice."""
        # Every address checked before anything is sent: no half-finished envelope.
        mail_from, rcpt_to = _quoted(sender), [(r, _quoted(r)) for r in recipients]
        if client.is_ehlo_or_helo_needed:
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                if not client.is_connected:
                    raise
                await client.helo()
        plain = transmission_form(data)
        options: list[bytes] = []
        if client.supports_extension("size"):
            # RFC 1870: octets as transmitted (CRLF line ends). Our messages are CRLF
            # already; anything else is measured as aiosmtplib would send it.
            crlf = plain or (
                data.endswith(b"\r\n")
                and data.count(b"\r\n") == data.count(b"\r") == data.count(b"\n")
            )
            size = len(data) if crlf else len(normalize_message_line_endings(data))
            options.append(f"size={size}".encode("ascii"))
        errors: dict[str, aiosmtplib.SMTPResponse] = {}
        try:
            reply = await client.execute_command(b"MAIL", b"FROM:" + mail_from, *options)
            if reply.code != 250:
                raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
            refused: list[aiosmtplib.SMTPRecipientRefused] = []
            for rcpt, quoted in rcpt_to:
                reply = await client.execute_command(b"RCPT", b"TO:" + quoted)
                if reply.code not in (250, 251):
                    refused.append(aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, rcpt))
                    errors[rcpt] = reply
            if len(refused) == len(recipients):
                raise aiosmtplib.SMTPRecipientsRefused(refused)
            reply = await _data(client, data) if plain else await client.data(data)
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
                await client.rset()
            raise
        return errors, reply.message

    @staticmethod
    async def _drop(client: aiosmtplib.SMTP) -> None:
        with contextlib.suppress(Exception):
            client.close()

    async def close(self) -> None:
        clients = []
        while not self._idle.empty():
            clients.append(self._idle.get_nowait())
        for c in clients:
            if c.is_connected:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(c.quit(), 2)
            await self._drop(c)
            self._idle.put_nowait(c)
