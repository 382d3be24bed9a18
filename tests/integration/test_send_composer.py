"""The worker as `outreach worker` builds it (catalogue templates, MIME writer, opt-out tokens,
DKIM) against a real SMTP server: messages parsed back, DKIM verified with dkimpy, and the
template/permit checks at send time."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import shutil
import subprocess
from pathlib import Path
from typing import Any

import dkim
import pytest
import sendkit
from sqlalchemy import insert, select, update

from outreach import bootstrap, outbox, pipeline, settings
from outreach.clock import FixedClock
from outreach.db.models import Campaign, Customer, EmailBasis, OutboxMessage, SendAttempt
from outreach.send import service, smtp


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes]:
    d = tmp_path_factory.mktemp("dkim")
    subprocess.run(
        ["openssl", "genrsa", "-out", str(d / "k.pem"), "2048"], check=True, capture_output=True
    )
    pub = subprocess.run(
        ["openssl", "rsa", "-in", str(d / "k.pem"), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return (d / "k.pem").read_text(), base64.b64encode(pub)


def make_app(db_url: str, tmp_path: Path, clock: FixedClock, **extra: Any) -> bootstrap.App:
    s = settings.Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        config_dir=sendkit.REPO / "config",
        dealer_file=sendkit.REPO / "config" / "dealer.demo.toml",
        templates_dir=sendkit.write_templates(tmp_path / "templates"),
        secret_key="test-secret-key-not-for-production",
        base_url="https://outreach.example.jp",
        smtp_rate_per_second=10_000,
        **extra,
    )
    return bootstrap.build(s, clock=clock)


async def seed(app: bootstrap.App, drafts: list[outbox.Draft], n: int = 3) -> None:
    async with app.sessions() as s, s.begin():
        await sendkit.add_customers(s, n)
        await outbox.enqueue(s, [(d, sendkit.permit(d.customer_id, items=d.items)) for d in drafts])


async def test_dkim_signed_mail_verifies_over_the_one_click_headers(
    db_url: str, tmp_path: Path, clock: FixedClock, dkim_key: tuple[str, bytes]
) -> None:
    pem, pub = dkim_key
    app = make_app(db_url, tmp_path, clock, dkim_selector="s2026", dkim_private_key=pem)
    try:
        await seed(app, [sendkit.draft(c) for c in (1, 2, 3)])
        with sendkit.SmtpServer() as server:
            w = service.build_worker(
                app, transport=smtp.SmtpTransport(smtp.parse_url(server.url), 2)
            )
            report = await pipeline.drain(w, once=True)
            await w.transport.close()
    finally:
        await app.close()
    assert report.results["sent"] == 3
    for mail in server.received:

        def dns(name: bytes, timeout: int = 5) -> bytes:
            assert name == b"s2026._domainkey.mail.example-lexus-dealer.jp."
            return b"v=DKIM1; k=rsa; p=" + pub

        assert dkim.verify(mail.data, dnsfunc=dns)
        sig = mail.parsed()["DKIM-Signature"]
        signed = {h.strip().lower() for h in sig.split("h=")[1].split(";")[0].split(":")}
        assert {"from", "subject", "list-unsubscribe", "list-unsubscribe-post"} <= signed
        assert mail.parsed()["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_template_using_items_beyond_the_permit_is_not_sent(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    app = make_app(db_url, tmp_path, clock)
    try:
        # The template reads customer.name_kanji (item "name"); this permit does not cover it.
        narrow = sendkit.draft(1, items=frozenset({"email"}))
        await seed(app, [narrow, sendkit.draft(2)])
        with sendkit.SmtpServer() as server:
            w = service.build_worker(
                app, transport=smtp.SmtpTransport(smtp.parse_url(server.url), 1)
            )
            await pipeline.drain(w, once=True)
            await w.transport.close()
        async with app.sessions() as s:
            rows = {m.customer_id: m for m in (await s.execute(select(OutboxMessage))).scalars()}
    finally:
        await app.close()
    assert [r.rcpt_tos for r in server.received] == [["user2@example.jp"]]
    assert rows[1].status == "failed"
    assert "did not allow" in (rows[1].last_error or "") and "name" in (rows[1].last_error or "")


async def test_campaign_text_edited_after_approval_is_not_sent(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    app = make_app(db_url, tmp_path, clock)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    try:
        async with app.sessions() as s, s.begin():
            await sendkit.add_customers(s, 2)
            await s.execute(
                insert(Campaign).values(
                    id=7,
                    name="冬の点検キャンペーン",
                    purpose="p3",
                    category="marketing",
                    channels=["email"],
                    subject_template="{{ customer.name_kanji }}様へ 冬の点検のご案内",
                    text_template='{{ customer.name_kanji }}様\n{% include "_base/footer.txt" %}',
                    html_template="",
                    advertising=True,
                    status="running",
                    version=2,
                    approved_version=2,
                    created_by="m",
                    approved_by="a",
                    created_at=now,
                    updated_at=now,
                )
            )
            base = dataclasses.replace(
                sendkit.draft(1, "campaign:7:v2:1:email"),
                purpose="p3",
                category="marketing",
                kind="campaign",
                template="campaign:7:v2",
                campaign_id=7,
                advertising=True,
                items=frozenset({"name", "email"}),
            )
            second = dataclasses.replace(
                base, idempotency_key="campaign:7:v2:2:email", customer_id=2
            )
            await outbox.enqueue(
                s, [(d, sendkit.permit(d.customer_id, "p3", items=d.items)) for d in (base, second)]
            )
        with sendkit.SmtpServer() as server:
            transport = smtp.SmtpTransport(smtp.parse_url(server.url), 1)
            w = dataclasses.replace(service.build_worker(app, transport=transport), batch=1)
            # The gate's advertising rule needs an email basis; the shipped config has one
            # for opt-in addresses only, so give both customers one.
            async with app.sessions() as s, s.begin():
                await s.execute(
                    insert(EmailBasis),
                    [
                        {
                            "customer_id": c,
                            "email": f"user{c}@example.jp",
                            "basis": "opt_in",
                            "evidence_at": now,
                            "evidence_method": "web_form",
                            "evidence_text": "キャンペーン情報を受け取る",
                        }
                        for c in (1, 2)
                    ],
                )
            first = await pipeline.run_batch(w)
            async with app.sessions() as s, s.begin():  # staff edit the text: a new version
                await s.execute(
                    update(Campaign)
                    .where(Campaign.id == 7)
                    .values(version=3, text_template="書き換えた本文", status="draft")
                )
            second_report = await pipeline.run_batch(w)
            await transport.close()
        async with app.sessions() as s:
            rows = {m.customer_id: m for m in (await s.execute(select(OutboxMessage))).scalars()}
            attempts = (await s.execute(select(SendAttempt))).scalars().all()
    finally:
        await app.close()
    assert first.results["sent"] == 1 and second_report.results["perm_fail"] == 1
    assert len(server.received) == 1
    sent = server.received[0].parsed()
    assert sent["Subject"] == "髙橋 太郎1様へ 冬の点検のご案内"
    assert rows[1].template_version == "campaign:7:v2@v2"
    assert rows[1].basis == "opt_in" and rows[1].basis_id is not None
    assert rows[2].status == "failed" and "approved version" in (rows[2].last_error or "")
    assert len(attempts) == 2


async def test_a_header_injection_is_a_final_visible_refusal(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    """A value the MIME writer refuses is not retried as temporary: failed once, shown."""
    app = make_app(db_url, tmp_path, clock)
    try:
        await seed(app, [sendkit.draft(1), sendkit.draft(2)])
        async with app.sessions() as s, s.begin():
            await s.execute(
                update(Customer)
                .where(Customer.id == 1)
                .values(name_kanji="髙橋\r\nBcc: evil@example.jp")
            )
        with sendkit.SmtpServer() as server:
            w = service.build_worker(
                app, transport=smtp.SmtpTransport(smtp.parse_url(server.url), 1)
            )
            report = await pipeline.drain(w, once=True)
            await w.transport.close()
        async with app.sessions() as s:
            rows = {m.customer_id: m for m in (await s.execute(select(OutboxMessage))).scalars()}
            attempts = (await s.execute(select(SendAttempt))).scalars().all()
    finally:
        await app.close()
    assert report.results["perm_fail"] == 1 and report.results["sent"] == 1
    assert [r.rcpt_tos for r in server.received] == [["user2@example.jp"]]
    assert rows[1].status == "failed" and rows[1].attempts == 1
    assert (rows[1].last_error or "").startswith("build refused")
    assert [a.result for a in attempts if a.outbox_id == rows[1].id] == ["perm_fail"]


async def test_one_refused_template_parks_only_its_own_messages(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    app = make_app(db_url, tmp_path, clock)
    broken = app.settings.templates_dir / "mail" / "broken_notice"
    shutil.copytree(app.settings.templates_dir / "mail" / "test_notice", broken)
    (broken / "body.txt").write_text("{{ customer.birth_date }}\n")  # not an item of p2
    try:
        await seed(app, [sendkit.draft(1, template="broken_notice"), sendkit.draft(2)])
        with sendkit.SmtpServer() as server:
            # The worker starts (no exit 2) although one catalogue template is refused.
            w = service.build_worker(
                app, transport=smtp.SmtpTransport(smtp.parse_url(server.url), 1)
            )
            report = await pipeline.drain(w, once=True)
            await w.transport.close()
        async with app.sessions() as s:
            rows = {m.customer_id: m for m in (await s.execute(select(OutboxMessage))).scalars()}
    finally:
        await app.close()
    assert report.results["sent"] == 1 and report.results["temp_fail"] == 1
    assert [r.rcpt_tos for r in server.received] == [["user2@example.jp"]]
    parked = rows[1]
    assert parked.status == "queued" and parked.not_before > clock.now()
    assert "broken_notice" in (parked.last_error or "")
    assert "birth_date" in (parked.last_error or "")
