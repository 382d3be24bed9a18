"""The SMTP transport against a real aiosmtpd server: pooled connections, reconnect after a
drop, AUTH, STARTTLS and implicit TLS; and the file/capture transports."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sendkit
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.send import capture, file, smtp

MSG = (
    "From: a@mail.example.jp\r\nTo: b@example.jp\r\nSubject: =?utf-8?b?6auZ5qmL?=\r\n"
    "Message-ID: <{n}.x@mail.example.jp>\r\n\r\nbody {n}\r\n"
)


PERMIT = sendkit.permit(1)


def msg(n: int) -> bytes:
    return MSG.format(n=n).encode()


class Peers:
    """Stores messages and the client connection (peer) each came on."""

    def __init__(self, drop_on: set[int] | None = None) -> None:
        self.peers: list[Any] = []
        self.data: list[bytes] = []
        self.drop_on = drop_on or set()
        self.seen = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.seen += 1
        if self.seen in self.drop_on:
            return "421 4.7.0 closing connection"
        self.peers.append(session.peer)
        self.data.append(envelope.original_content or envelope.content)
        return "250 OK"


async def test_pool_reuses_its_connections() -> None:
    h = Peers()
    port = sendkit.free_port()
    c = Controller(h, hostname="127.0.0.1", port=port)
    c.start()
    try:
        t = smtp.SmtpTransport(smtp.parse_url(f"smtp://127.0.0.1:{port}"), 3)
        results = await asyncio.gather(
            *(t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(i)) for i in range(30))
        )
        await t.close()
    finally:
        c.stop()
    assert all(r.ok and r.code == 250 for r in results)
    assert len(h.data) == 30
    assert len(set(h.peers)) <= 3  # 30 messages over at most 3 connections
    parsed = email.message_from_bytes(h.data[0], policy=email.policy.default)
    assert parsed["Subject"] == "髙橋"


async def test_a_dropped_connection_is_replaced_on_next_use() -> None:
    h = Peers(drop_on={2})
    port = sendkit.free_port()
    c = Controller(h, hostname="127.0.0.1", port=port)
    c.start()
    try:
        t = smtp.SmtpTransport(smtp.parse_url(f"smtp://127.0.0.1:{port}"), 1)
        r1 = await t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(1))
        r2 = await t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(2))
        r3 = await t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(3))
        await t.close()
    finally:
        c.stop()
    assert r1.ok and not r2.ok and r2.code == 421 and r3.ok
    assert len(set(h.peers)) == 2  # a new connection after the 421


async def test_server_down_is_a_temporary_failure_without_code() -> None:
    t = smtp.SmtpTransport(smtp.parse_url(f"smtp://127.0.0.1:{sendkit.free_port()}"), 1)
    r = await t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(1))
    await t.close()
    assert not r.ok and r.code is None and r.detail.startswith("connection:")


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"relay", b"s3cr:t")
    return AuthResult(success=ok)


@pytest.mark.parametrize(("password", "delivered"), [("s3cr%3At", True), ("wrong", False)])
async def test_auth_from_the_url(password: str, delivered: bool) -> None:
    h = Peers()
    port = sendkit.free_port()
    c = Controller(h, hostname="127.0.0.1", port=port, authenticator=_auth, auth_require_tls=False)
    c.start()
    try:
        relay = smtp.parse_url(f"smtp://relay:{password}@127.0.0.1:{port}")
        # A refused login may leave the server waiting for another mechanism: short timeout.
        t = smtp.SmtpTransport(dataclasses.replace(relay, timeout=2), 1)
        r = await t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(1))
        await t.close()
    finally:
        c.stop()
    assert r.ok is delivered
    assert len(h.data) == (1 if delivered else 0)
    if not delivered:
        assert r.code is None  # a relay refusing us is retried later, never a bounce


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


def _server_ctx(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


async def test_starttls_required_by_the_url(cert: tuple[Path, Path]) -> None:
    h = Peers()
    port = sendkit.free_port()
    c = Controller(
        h, hostname="127.0.0.1", port=port, tls_context=_server_ctx(cert), require_starttls=True
    )
    c.start()
    try:
        relay = smtp.parse_url(f"smtp+starttls://127.0.0.1:{port}?insecure")
        t = smtp.SmtpTransport(relay, 1)
        r = await t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(1))
        plain = smtp.SmtpTransport(smtp.Relay("127.0.0.1", port, start_tls=False), 1)
        refused = await plain.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(2))
        await t.close()
        await plain.close()
    finally:
        c.stop()
    assert r.ok, r
    assert not refused.ok  # the server demands STARTTLS: no mail over plain text
    assert len(h.data) == 1


async def test_implicit_tls(cert: tuple[Path, Path]) -> None:
    h = Peers()
    port = sendkit.free_port()
    c = Controller(h, hostname="127.0.0.1", port=port, ssl_context=_server_ctx(cert))
    c.start()
    try:
        relay = smtp.parse_url(f"smtps://127.0.0.1:{port}?insecure")
        t = smtp.SmtpTransport(relay, 2)
        r = await t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(1))
        await t.close()
    finally:
        c.stop()
    assert r.ok, r
    assert len(h.data) == 1


async def test_file_and_capture_transports_write_one_eml_per_message_id(tmp_path: Path) -> None:
    t = capture.transport(tmp_path / "data")
    for n in (1, 2, 1):  # the third is a resend of the first: same file
        r = await t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(n))
        assert r.ok and r.code == 250
    files = sorted(p.name for p in capture.capture_dir(tmp_path / "data").iterdir())
    assert files == ["1.x@mail.example.jp.eml", "2.x@mail.example.jp.eml"]
    f = file.FileTransport(tmp_path / "out")
    await f.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(3))
    parsed = email.message_from_bytes(
        (tmp_path / "out" / "3.x@mail.example.jp.eml").read_bytes(), policy=email.policy.default
    )
    assert parsed["Subject"] == "髙橋"


async def test_a_connection_the_relay_closed_while_idle_is_replaced_transparently() -> None:
    h = Peers()
    port = sendkit.free_port()
    c = Controller(h, hostname="127.0.0.1", port=port, timeout=0.3)  # relay's idle timeout
    c.start()
    try:
        t = smtp.SmtpTransport(smtp.parse_url(f"smtp://127.0.0.1:{port}"), 1)
        r1 = await t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(1))
        await asyncio.sleep(0.8)  # the relay hangs up on the idle connection
        r2 = await t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(2))
        await t.close()
    finally:
        c.stop()
    assert r1.ok and r2.ok, r2
    assert len(h.data) == 2 and len(set(h.peers)) == 2


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs of our own (unmounted afterwards)."""
    disk = tmp_path / "small"
    disk.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip()})")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


async def test_the_file_transport_leaves_nothing_behind_on_a_full_disk(small_disk: Path) -> None:
    """A message larger than the space left: refused as a temporary failure, and neither a
    half .eml nor its temporary file stays on the disk."""
    big = msg(9).replace(b"\r\n\r\n", b"\r\n\r\n" + b"x" * 200_000, 1)
    f = file.FileTransport(small_disk / "out")
    result = await f.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], big)
    assert not result.ok and "cannot write" in result.detail
    assert list((small_disk / "out").iterdir()) == []
    ok = await f.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(10))
    assert ok.ok
    assert [p.name for p in (small_disk / "out").iterdir()] == ["10.x@mail.example.jp.eml"]


# -- DATA: a message already in transmission form is written as it is --------------------

_PIECES = [b"\r\n", b"\n", b"\r", b".", b"..", b"a", b" ", b"=", b"\r\n.", b"\n.\r\n"]


@given(st.lists(st.sampled_from(_PIECES), max_size=40))
@settings(max_examples=500, deadline=None)
def test_transmission_form_is_exactly_what_aiosmtplib_would_write(pieces: list[bytes]) -> None:
    """Where the fast path is taken, aiosmtplib's own passes would change nothing."""
    data = b"".join(pieces)
    if smtp.transmission_form(data):
        assert PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data)) == data


def test_transmission_form_refuses_what_aiosmtplib_would_change() -> None:
    assert smtp.transmission_form(b"a\r\nb\r\n")
    for data in (b"a\nb\r\n", b"a\rb\r\n", b"a\r\n.b\r\n", b".a\r\n", b"a\r\nb", b""):
        assert not smtp.transmission_form(data), data


class Refusing(Peers):
    """Refuses the message whose body says `refuse` with 554, after reading it."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if b"refuse" in (envelope.original_content or envelope.content):
            return "554 5.7.1 refused"
        return await super().handle_DATA(server, session, envelope)


async def test_data_arrives_exactly_as_aiosmtplib_sends_it_on_both_paths() -> None:
    h = Refusing()
    port = sendkit.free_port()
    c = Controller(h, hostname="127.0.0.1", port=port)
    c.start()
    plain = msg(1)
    # Not in transmission form: a line beginning with a dot and a bare LF (aiosmtplib's path).
    other = b"From: a@mail.example.jp\r\nSubject: x\r\n\r\n.dot line\nbare lf\r\n"
    refused = msg(3).replace(b"body", b"refuse")
    try:
        t = smtp.SmtpTransport(smtp.parse_url(f"smtp://127.0.0.1:{port}"), 1)
        r1 = await t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], plain)
        r2 = await t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], other)
        r3 = await t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], refused)
        r4 = await t.send(PERMIT, "a@mail.example.jp", ["b@example.jp"], msg(4))
        await t.close()
    finally:
        c.stop()
    assert r1.ok and r2.ok and r4.ok, (r1, r2, r4)
    assert not r3.ok and r3.code == 554  # refused, and the connection goes on (r4)
    # The server's view after dot-unstuffing: the bytes given, line ends as transmitted.
    assert h.data == [plain, normalize_message_line_endings(other), msg(4)]
    assert len(set(h.peers)) == 1
