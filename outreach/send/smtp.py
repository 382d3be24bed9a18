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
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aiosmtplib

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
            refused, message = await client.sendmail(envelope_from, list(recipients), data)
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
