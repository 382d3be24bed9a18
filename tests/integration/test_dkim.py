"""DKIM: messages from the MIME writer, signed by outreach.render.dkim, verify with dkimpy,
also after a trip through a real SMTP server (aiosmtpd in-process, aiosmtplib client)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
import subprocess
from pathlib import Path

import aiosmtplib
import dkim as dkimpy
import dkimkit
import pytest
from aiosmtpd.smtp import SMTP
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pydantic import SecretStr

from outreach import settings as settings_mod
from outreach.errors import ConfigError
from outreach.render import dkim, message

DOMAIN = "mail.example-lexus-dealer.jp"
JST = dt.timezone(dt.timedelta(hours=9))
BAD_KEY = b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """(PEM private key, DNS TXT record) of a freshly generated 2048-bit RSA key."""
    path = tmp_path_factory.mktemp("dkim") / "key.pem"
    subprocess.run(
        ["openssl", "genrsa", "-traditional", "-out", str(path), "2048"],
        check=True,
        capture_output=True,
    )
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(path), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    txt = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
    return path.read_bytes(), txt


def dns_for(txt: bytes, selector: str = "s2026"):  # type: ignore[no-untyped-def]
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return txt if name == f"{selector}._domainkey.{DOMAIN}.".encode() else None

    return dnsfunc


def a_mail() -> bytes:
    return message.build(
        message.Mail(
            sender=message.Address(f"news@{DOMAIN}", "LEXUS ジャミール商事"),
            to=message.Address("yamazaki@example.jp", "山﨑 花子"),
            subject="【冬タイヤ交換キャンペーン】山﨑様へのご案内 ①㈱",
            text="山﨑 花子 様\n\n.\n..先頭のドットも残ります\n" * 20,
            html="<p>山﨑 花子 様</p>\n",
            message_id=message.message_id(7, DOMAIN),
            date=dt.datetime(2026, 12, 1, 9, 0, tzinfo=JST),
            list_id=message.list_id("イベント・キャンペーンのご案内", "campaign", DOMAIN),
            list_unsubscribe=(
                "https://dealer.example.jp/u/v1.abc",
                f"mailto:unsubscribe@{DOMAIN}?subject=u-abc",
            ),
        )
    )


def tags(signed: bytes) -> dict[str, str]:
    head = signed.split(b"\r\n\r\n", 1)[0].decode()
    m = re.match(r"DKIM-Signature: (.*?)\r\n(?=\S)", head, re.S)
    assert m is not None
    value = re.sub(r"\s+", "", m.group(1))
    return dict(t.split("=", 1) for t in value.split(";") if t)


def test_signature_verifies_and_covers_the_unsubscribe_headers(
    rsa_key: tuple[bytes, bytes],
) -> None:
    pem, txt = rsa_key
    signed = dkim.Signer("s2026", DOMAIN, pem).sign(a_mail())
    assert dkimpy.verify(signed, dnsfunc=dns_for(txt))
    t = tags(signed)
    signed_headers = t["h"].split(":")
    for h in ("from", "to", "subject", "date", "message-id", "list-unsubscribe"):
        assert h in signed_headers
    assert "list-unsubscribe-post" in signed_headers
    assert signed_headers.count("from") == 2  # oversigned
    assert t["d"] == DOMAIN and t["s"] == "s2026" and t["c"] == "relaxed/relaxed"


def test_a_changed_header_or_body_fails_verification(rsa_key: tuple[bytes, bytes]) -> None:
    pem, txt = rsa_key
    signed = dkim.Signer("s2026", DOMAIN, pem).sign(a_mail())
    unsub = signed.replace(b"https://dealer.example.jp/u/v1.abc", b"https://evil.example/u/x")
    assert not dkimpy.verify(unsub, dnsfunc=dns_for(txt))
    body = signed[:-10] + b"AAAA" + signed[-6:]
    assert not dkimpy.verify(body, dnsfunc=dns_for(txt))
    added_from = b"From: attacker@example.com\r\n" + signed
    assert not dkimpy.verify(added_from, dnsfunc=dns_for(txt))


async def test_signature_survives_a_real_smtp_server(rsa_key: tuple[bytes, bytes]) -> None:
    pem, txt = rsa_key
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            received.append(envelope.original_content)  # type: ignore[attr-defined]
            return "250 OK"

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler()), "127.0.0.1", 0)
    try:
        signed = dkim.Signer("s2026", DOMAIN, pem).sign(a_mail())
        await aiosmtplib.send(
            signed,
            sender=f"news@{DOMAIN}",
            recipients=["yamazaki@example.jp"],
            hostname="127.0.0.1",
            port=server.sockets[0].getsockname()[1],
            timeout=10,
        )
    finally:
        server.close()
        await server.wait_closed()
    assert len(received) == 1
    assert dkimpy.verify(received[0], dnsfunc=dns_for(txt))


def test_settings_build_the_signer_or_none(rsa_key: tuple[bytes, bytes], tmp_path: Path) -> None:
    pem, _ = rsa_key
    base = settings_mod.Settings(data_dir=tmp_path)
    assert dkim.from_settings(base) is None
    with_key = base.model_copy(
        update={"dkim_private_key": SecretStr(pem.decode().replace("\n", "\\n"))}
    )
    with pytest.raises(ConfigError, match="SELECTOR"):
        dkim.from_settings(with_key)
    signer = dkim.from_settings(with_key.model_copy(update={"dkim_selector": "s2026"}))
    assert signer is not None and signer.domain == base.mail_domain and signer.beside is None
    ed = SecretStr(ed25519_pem().decode())
    both = with_key.model_copy(update={"dkim_selector": "s2026", "dkim_ed25519_private_key": ed})
    with pytest.raises(ConfigError, match="ED25519_SELECTOR"):
        dkim.from_settings(both)
    signer = dkim.from_settings(both.model_copy(update={"dkim_ed25519_selector": "ed2026"}))
    assert signer is not None and signer.beside is not None
    assert signer.beside.algorithm == b"ed25519-sha256" and signer.beside.selector == "ed2026"


def test_a_bad_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="DKIM private key"):
        dkim.Signer(
            "s1", DOMAIN, b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"
        )


def ed25519_pem() -> bytes:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_the_signer_publishes_its_own_dns_record(rsa_key: tuple[bytes, bytes]) -> None:
    pem, txt = rsa_key
    assert dkim.Signer("s2026", DOMAIN, pem).dns_record().encode() == txt


@pytest.mark.skipif(not dkimkit.available(), reason="needs Debian's opendkim-tools (make browser)")
def test_opendkim_verifies_what_we_sign_and_rejects_a_change(rsa_key: tuple[bytes, bytes]) -> None:
    """An independent implementation (OpenDKIM's library) agrees with dkimpy."""
    pem, _ = rsa_key
    signer = dkim.Signer("s2026", DOMAIN, pem)
    name = f"s2026._domainkey.{DOMAIN}"
    signed = signer.sign(a_mail())
    assert dkimkit.opendkim_verify(signed, name, signer.dns_record()) == (0, "")
    changed = signed.replace(b"https://dealer.example.jp/u/v1.abc", b"https://evil.example/u/x")
    rc, err = dkimkit.opendkim_verify(changed, name, signer.dns_record())
    assert rc != 0 and "Bad signature" in err
    other = dkim.Signer("s2026", DOMAIN, ed25519_pem())  # right selector, wrong key
    rc, err = dkimkit.opendkim_verify(signed, name, other.dns_record())
    assert rc != 0


def test_ed25519_beside_rsa_both_verify_with_dkimpy(rsa_key: tuple[bytes, bytes]) -> None:
    """RFC 8463: an Ed25519 signature beside the RSA one, each under its own selector."""
    pem, txt = rsa_key
    ed = dkim.Signer("ed2026", DOMAIN, ed25519_pem())
    assert ed.algorithm == b"ed25519-sha256"
    signed = dkim.Signer("s2026", DOMAIN, pem, beside=ed).sign(a_mail())
    records = {
        f"s2026._domainkey.{DOMAIN}.".encode(): txt,
        f"ed2026._domainkey.{DOMAIN}.".encode(): ed.dns_record().encode(),
    }

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name)

    d = dkimpy.DKIM(signed)
    assert d.verify(idx=0, dnsfunc=dnsfunc) and d.verify(idx=1, dnsfunc=dnsfunc)
    algorithms = {tags_at(signed, i)["a"] for i in (0, 1)}
    assert algorithms == {"rsa-sha256", "ed25519-sha256"}
    tampered = signed.replace(b"https://dealer.example.jp/u/v1.abc", b"https://evil.example/u")
    d = dkimpy.DKIM(tampered)
    assert not d.verify(idx=0, dnsfunc=dnsfunc) and not d.verify(idx=1, dnsfunc=dnsfunc)


def tags_at(signed: bytes, index: int) -> dict[str, str]:
    head = signed.split(b"\r\n\r\n", 1)[0].decode()
    found = re.findall(r"DKIM-Signature: (.*?)\r\n(?=\S)", head, re.S)
    value = re.sub(r"\s+", "", found[index])
    return dict(t.split("=", 1) for t in value.split(";") if t)


def test_the_signature_is_what_dkimpy_itself_would_sign(rsa_key: tuple[bytes, bytes]) -> None:
    """Same tags, same order, same folding, same bytes as dkimpy's own signer (RSA PKCS#1
    v1.5 is deterministic): only the speed differs."""
    pem, _ = rsa_key
    mail = a_mail()
    ours = dkim.Signer("s2026", DOMAIN, pem).signature(mail, now=1_800_000_000)
    import time as time_mod
    from unittest import mock

    with mock.patch.object(time_mod, "time", return_value=1_800_000_000):
        theirs = dkimpy.sign(
            mail,
            b"s2026",
            DOMAIN.encode(),
            pem,
            include_headers=list(dkim.SIGNED_HEADERS),
            canonicalize=(b"relaxed", b"relaxed"),
            linesep=b"\r\n",
        )
    assert ours == theirs
