"""The key rotation runbooks of docs/operations.md, followed step by step on both engines.

Secret key: mail sent under the old key, then OUTREACH_SECRET_KEY changed with the old one
listed in OUTREACH_OLD_SECRET_KEYS. The old mails' links still opt out; new mail carries links
only the new key opens; once the old key is dropped from the list its links stop working.
Written against what customers and the service see (mail in the capture folder, HTTP
answers), not the token format, so it holds whatever construction the tokens use.

DKIM: a new key made with the runbook's openssl commands, published under a new selector,
then OUTREACH_DKIM_SELECTOR/PRIVATE_KEY switched: new mail is signed with the new selector,
mail signed before still verifies while the old selector stays published.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import re
import subprocess
from pathlib import Path

import dkim as dkimpy
import httpx
from opskit import capture, lived_in
from pydantic import SecretStr
from sqlalchemy import func, select

from outreach import bootstrap, pipeline
from outreach.clock import FixedClock
from outreach.db.models import ConsentEvent
from outreach.send import service
from outreach.web.app import create_app

OLD_KEY = "test-secret-key-not-for-production"  # the `app` fixture's key
NEW_KEY = "a-new-secret-key-after-the-rotation-0123456789"
TOKEN_RE = re.compile(r"/u/([A-Za-z0-9_\-.=~]+)")


def links(folder: Path) -> list[str]:
    out = []
    for p in sorted(folder.glob("*.eml")):
        msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        m = TOKEN_RE.search(str(msg["List-Unsubscribe"]))
        assert m is not None
        out.append(m[1])
    return out


async def send_rest(app: bootstrap.App, folder: Path, limit: int | None = None) -> None:
    w = service.build_worker(app, batch=limit, transport=capture(folder))
    try:
        if limit:
            await pipeline.run_batch(w)
        else:
            await pipeline.drain(w, once=True)
    finally:
        await w.transport.close()


async def one_click(app: bootstrap.App, token: str) -> int:
    web = create_app(app)
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        r = await http.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    return r.status_code


async def opt_outs(app: bootstrap.App) -> int:
    async with app.sessions() as s:
        return int(
            (
                await s.execute(select(func.count()).where(ConsentEvent.source == "one_click"))
            ).scalar_one()
        )


def rebuilt(app: bootstrap.App, clock: FixedClock, **changes: object) -> bootstrap.App:
    return bootstrap.build(app.settings.model_copy(update=changes), clock=clock)


async def test_secret_key_rotation_keeps_old_links_working(
    app: bootstrap.App, tmp_path: Path
) -> None:
    before = tmp_path / "before"
    await lived_in(app, before, customers=200)
    old_links = links(before)
    assert len(old_links) >= 2

    later = FixedClock(app.clock.now() + dt.timedelta(hours=1))
    rotated = rebuilt(
        app,
        later,
        secret_key=SecretStr(NEW_KEY),
        old_secret_keys=SecretStr(OLD_KEY),
    )
    only_new = rebuilt(app, later, secret_key=SecretStr(NEW_KEY), old_secret_keys=None)
    only_old = rebuilt(app, later)
    try:
        # Step 2 done (new key, old key listed): an old mail's link still opts out.
        n = await opt_outs(app)
        assert await one_click(rotated, old_links[0]) == 200
        assert await opt_outs(app) == n + 1

        # New mail carries links made with the new key.
        after = tmp_path / "after"
        await send_rest(rotated, after)
        new_links = links(after)
        assert new_links and not set(new_links) & set(old_links)
        assert await one_click(only_new, new_links[0]) == 200  # the new key alone opens them
        assert await opt_outs(app) == n + 2
        assert await one_click(only_old, new_links[1]) == 400  # the old key does not

        # Step 4 (old key dropped from the list, much later): its links are refused.
        assert await one_click(only_new, old_links[1]) == 400
        assert await opt_outs(app) == n + 2
    finally:
        for a in (rotated, only_new, only_old):
            await a.close()


def runbook_key(folder: Path, selector: str) -> tuple[str, bytes]:
    """docs/operations.md's commands: the private key, and the TXT record to publish."""
    pem = folder / f"dkim-{selector}.pem"
    subprocess.run(
        ["openssl", "genrsa", "-traditional", "-out", str(pem), "2048"],
        check=True,
        capture_output=True,
    )
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(pem), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return pem.read_text(), b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def signed_selector(raw: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    m = re.search(r"DKIM-Signature:.*?\bs=([\w-]+)", head, re.S)
    assert m is not None, "not signed"
    return m[1]


async def test_dkim_selector_change(app: bootstrap.App, tmp_path: Path) -> None:
    old_pem, old_txt = runbook_key(tmp_path, "s2026")
    new_pem, new_txt = runbook_key(tmp_path, "s2027")
    domain = app.settings.mail_domain
    published = {f"s2026._domainkey.{domain}.".encode(): old_txt}

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return published.get(name)

    signing_old = rebuilt(
        app,
        FixedClock(app.clock.now()),
        dkim_selector="s2026",
        dkim_private_key=SecretStr(old_pem),
    )
    before, after = tmp_path / "before", tmp_path / "after"
    try:
        await lived_in(signing_old, before, customers=200)
    finally:
        await signing_old.close()
    # The new selector's record is published first; then the settings switch.
    published[f"s2027._domainkey.{domain}.".encode()] = new_txt
    signing_new = rebuilt(
        app,
        FixedClock(app.clock.now() + dt.timedelta(hours=1)),
        dkim_selector="s2027",
        dkim_private_key=SecretStr(new_pem),
    )
    try:
        await send_rest(signing_new, after)
    finally:
        await signing_new.close()
    old_mail = [p.read_bytes() for p in sorted(before.glob("*.eml"))]
    new_mail = [p.read_bytes() for p in sorted(after.glob("*.eml"))]
    assert old_mail and new_mail
    assert {signed_selector(m) for m in old_mail} == {"s2026"}
    assert {signed_selector(m) for m in new_mail} == {"s2027"}
    assert all(dkimpy.verify(m, dnsfunc=dns) for m in old_mail + new_mail)
    # Without the old record (retired too early) the old mail no longer verifies.
    del published[f"s2026._domainkey.{domain}.".encode()]
    assert not any(dkimpy.verify(m, dnsfunc=dns) for m in old_mail)
