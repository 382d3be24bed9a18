"""`outreach feedback ingest` on SQLite and PostgreSQL: real-format reports into suppressions,
consent-ledger opt-outs with the report as evidence, DMARC rows; idempotent; rate and pause."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env
from feedbackkit import T0, customer, fixture, maildir, sent, variant
from sqlalchemy import func, select

from outreach import bootstrap
from outreach.clock import FixedClock
from outreach.db.models import (
    Campaign,
    ConsentEvent,
    Customer,
    DmarcRow,
    FeedbackReport,
    SendAttempt,
    Suppression,
)
from outreach.feedback import config, ingest, source, summary
from outreach.gate import batch, consent
from outreach.gate.context import load_context
from outreach.gate.decision import Request

OUTREACH = str(Path(sys.executable).with_name("outreach"))
ALL = [
    "dsn_postfix.eml",
    "dsn_postfix_full.eml",
    "dsn_postfix_delayed.eml",
    "dsn_gmail.eml",
    "dsn_exchange.eml",
    "arf_yahoo_cfl.eml",
    "arf_generic.eml",
    "dmarc_google.eml",
]


def run_cli(db_url: str, tmp_path: Path, box: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OUTREACH, "feedback", "ingest", "--maildir", str(box), "--json"],
        env=cli_env(db_url, tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_every_fixture_through_the_cli_and_again(
    app: bootstrap.App, db_url: str, tmp_path: Path
) -> None:
    # The docomo customer's address is stored with capitals; the bounce names it with a
    # trailing dot: both must match the one suppression (normalisation).
    docomo = await customer(app, "No-Such-User@docomo.ne.jp")
    gmail = await customer(app, "taro.yamada.gone@gmail.com")
    yahoo = await customer(app, "kenji.tanaka@yahoo.com")
    redacted = await customer(app, "saburo@example-isp.jp")
    await sent(app, docomo, "<41.5f0c2a9d1e3b7c68@mail.example-lexus-dealer.jp>", advertising=False)
    gmail_row = await sent(app, gmail, "<58.9c8b7a6f5e4d3c2b@mail.example-lexus-dealer.jp>")
    await sent(app, yahoo, "<71.d00df00dcafe0001@mail.example-lexus-dealer.jp>")
    await sent(app, redacted, "<72.0123456789abcdef@mail.example-lexus-dealer.jp>")
    box = maildir(tmp_path / "reports", *(fixture(n) for n in ALL), b"From: x\n\nhello\n")

    r = run_cli(db_url, tmp_path, box)
    assert r.returncode == 1, r.stderr  # the one non-report mail is listed, not fatal
    out = json.loads(r.stdout)
    assert out["messages"] == 9
    assert out["outcomes"] == {
        "suppressed": 3,  # postfix 5.1.1, gmail 5.1.1, exchange 5.1.10
        "counted": 1,  # mailbox full, first time
        "noted": 1,  # delayed
        "opted_out": 2,  # Yahoo CFL (by Message-ID) and the redacted FBL (by Message-ID)
        "recorded": 1,  # DMARC
    }
    assert [x["reason"] for x in out["rejected"]] == ["not a DSN, ARF or DMARC report"]
    assert "kenji.tanaka" not in r.stderr

    async with app.sessions() as s:
        sup = {row.email: row for row in (await s.scalars(select(Suppression))).all()}
        assert set(sup) == {
            "no-such-user@docomo.ne.jp",
            "taro.yamada.gone@gmail.com",
            "jiro.suzuki@contoso-motors.co.jp",
        }
        assert sup["no-such-user@docomo.ne.jp"].reason == "hard_bounce"
        detail = sup["taro.yamada.gone@gmail.com"].detail or ""
        assert "5.1.1" in detail and "<58.9c8b7a6f5e4d3c2b@mail.example-lexus-dealer.jp>" in detail
        # the bounce joins the send log of the row it names
        attempt = await s.scalar(select(SendAttempt).where(SendAttempt.outbox_id == gmail_row))
        assert attempt is not None and attempt.result == "hard_bounce"
        # complaints: an opt-out of advertising in the ledger, the report as its evidence
        for cid in (yahoo, redacted):
            c = await s.get(Customer, cid)
            assert c is not None and "category:marketing" in c.opt_outs
            ev = await s.scalar(select(ConsentEvent).where(ConsentEvent.customer_id == cid))
            assert ev is not None and (ev.action, ev.source) == ("opt_out", "complaint")
            rep = await s.get(FeedbackReport, ev.evidence["report_id"])
            assert rep is not None and rep.kind == "complaint"
            assert ev.evidence["message_id"] == rep.original_message_id
            assert "Feedback-Type: abuse" in rep.raw
        assert await consent.verify(s) == []
        assert await s.scalar(select(func.count()).select_from(DmarcRow)) == 3
        days = await summary.dmarc(s, dt.date(2026, 12, 1), dt.date(2026, 12, 1))
        assert [(d.source_ip, d.messages, d.failed, d.new) for d in days] == [
            ("192.0.2.25", 1840, 0, True),
            ("198.51.100.77", 212, 0, True),  # DKIM failed, aligned SPF passed
            ("203.0.113.9", 37, 37, True),  # neither aligned: the sender to look at
        ]
        reports = await s.scalar(select(func.count()).select_from(FeedbackReport))

        # the gate: a suppressed address is unreachable for every email, whatever its case
        ctx = load_context(app.settings.config_dir)
        req = Request(purpose="p2", channel="email", kind="shaken", advertising=False)
        (d,) = await batch.decide_for(s, ctx, [(docomo, req)], T0)
        assert not d.allowed and "CONTACT_UNREACHABLE" in d.reasons

    again = run_cli(db_url, tmp_path, box)
    out2 = json.loads(again.stdout)
    assert out2["outcomes"] == {} and out2["duplicates"] == 8
    async with app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(FeedbackReport)) == reports
        assert await s.scalar(select(func.count()).select_from(ConsentEvent)) == 2


async def test_soft_bounces_suppress_after_the_limit(app: bootstrap.App, tmp_path: Path) -> None:
    cfg = config.load(app.settings.config_dir / "feedback.toml")
    assert cfg.soft_limit == 3
    mails = [variant("dsn_postfix_full.eml", n) for n in range(3)]
    for n, m in enumerate(mails):
        box = maildir(tmp_path / f"b{n}", m)
        res = await ingest.ingest(app, source.maildir(box), cfg)
        assert res.counts == ({"counted": 1} if n < 2 else {"suppressed": 1})
    async with app.sessions() as s:
        row = await s.scalar(select(Suppression).where(Suppression.email == "hanako@ezweb.ne.jp"))
        assert row is not None and row.reason == "soft_bounce"
        assert (row.detail or "").startswith("3 soft bounces")


async def test_complaint_rate_alerts_and_pauses_campaigns(
    app: bootstrap.App, clock: FixedClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock.at = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    cfg = config.FeedbackConfig(min_sent=100)
    ids = [await customer(app, f"c{i}@example.jp") for i in range(4)]
    for i in range(100):
        await sent(app, ids[i % 4], f"<{1000 + i}.feedc0de@mail.example-lexus-dealer.jp>")
    async with app.sessions.begin() as s:
        camp = Campaign(
            name="冬タイヤ",
            purpose="p3",
            category="marketing",
            channels=["email"],
            subject_template="冬タイヤフェアのご案内",
            text_template="{{ customer.name_kanji }} 様",
            status="running",
            created_by="t",
            created_at=T0,
            updated_at=T0,
        )
        s.add(camp)
        await s.flush()
        campaign_id = camp.id

    def complaint(n: int) -> bytes:
        return variant(
            "arf_generic.eml",
            n,
            **{"<72.0123456789abcdef@": f"<{1000 + n}.feedc0de@"},
        )

    # 1 complaint in 100 sent = 1 %: above 0.3 %, every running campaign is paused
    res = await ingest.ingest(app, source.maildir(maildir(tmp_path / "a", complaint(0))), cfg)
    assert [(a.day, a.stream, a.complaints, a.sent, a.level) for a in res.alerts] == [
        (dt.date(2026, 12, 1), "campaign", 1, 100, "pause")
    ]
    assert res.paused == [campaign_id]
    logged = [r.getMessage() for r in caplog.records if r.name == "outreach.feedback.ingest"]
    assert any("complaint rate 1.000% (1 of 100)" in m for m in logged)
    assert all("@" not in m for m in logged)  # no addresses in the logs
    async with app.sessions() as s:
        c = await s.get(Campaign, campaign_id)
        assert c is not None and c.status == "paused"

    # at a threshold that 1 % only alerts, nothing is paused
    loose = config.FeedbackConfig(min_sent=100, alert_rate=0.005, pause_rate=0.05)
    res = await ingest.ingest(app, source.maildir(maildir(tmp_path / "b", complaint(1))), loose)
    assert [a.level for a in res.alerts] == ["alert"] and res.paused == []


def test_cli_errors_are_one_line(db_url: str, tmp_path: Path) -> None:
    env = cli_env(db_url, tmp_path / "data")
    for args, code, text in [
        (["feedback", "ingest"], 2, "no report mailbox"),
        (["feedback", "ingest", "--maildir", str(tmp_path / "nope")], 2, "not a Maildir"),
        (["feedback", "ingest", "--maildir", str(tmp_path), "--imap"], 2, "exclude each other"),
    ]:
        r = subprocess.run([OUTREACH, *args], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == code, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and text in r.stderr and "Traceback" not in r.stderr


def test_the_jobs_resolve() -> None:
    from outreach import schedule

    assert callable(schedule.resolve("outreach.feedback.service:scheduled"))
    assert callable(schedule.resolve("outreach.signup.reconfirm:scheduled"))


async def test_rates_and_dmarc_commands(app: bootstrap.App, db_url: str, tmp_path: Path) -> None:
    box = maildir(tmp_path / "d", fixture("dmarc_google.eml"))
    await ingest.ingest(app, source.maildir(box), config.FeedbackConfig())
    env = cli_env(db_url, tmp_path / "data")
    r = await asyncio.to_thread(
        subprocess.run,
        [OUTREACH, "feedback", "dmarc", "--date", "2026-12-01", "--days", "1", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert {x["source_ip"]: x["failed"] for x in rows} == {
        "192.0.2.25": 0,
        "198.51.100.77": 0,
        "203.0.113.9": 37,
    }
    r = await asyncio.to_thread(
        subprocess.run,
        [OUTREACH, "feedback", "rates", "--date", "2026-12-01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and "送信も苦情もありません" in r.stdout
