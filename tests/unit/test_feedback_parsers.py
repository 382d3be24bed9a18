"""The report parsers on real-format fixtures (tests/fixtures/feedback, written after RFC 3464,
RFC 5965 / Yahoo CFL, RFC 7489 and the providers' published samples)."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outreach import addresses
from outreach.feedback import arf, dmarc, dsn, ingest, mime, rates
from outreach.feedback.config import FeedbackConfig
from outreach.feedback.reports import Bounce, ReportError

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "feedback"
HARD = FeedbackConfig().hard_statuses


def load(name: str) -> EmailMessage:
    return mime.parse((FIX / name).read_bytes())  # type: ignore[return-value]


def test_postfix_dsn_hard_bounce_with_the_original_message_id() -> None:
    m = load("dsn_postfix.eml")
    assert ingest.classify(m) == "dsn"
    d = dsn.parse(m)
    assert d.reporting_mta == "mx1.mail.example-lexus-dealer.jp"
    assert d.original_message_id == "<41.5f0c2a9d1e3b7c68@mail.example-lexus-dealer.jp>"
    (b,) = d.bounces
    # "No-Such-User@Docomo.ne.jp." normalised: case and the trailing dot
    assert b.recipient == "no-such-user@docomo.ne.jp"
    assert (b.action, b.status) == ("failed", "5.1.1")
    assert "User unknown" in b.diagnostic
    assert dsn.severity(b, HARD) == "hard"
    assert d.arrival == dt.datetime(2026, 12, 1, 10, 2, 9, tzinfo=dt.UTC)


def test_postfix_mailbox_full_is_soft_and_delayed_is_only_noted() -> None:
    (full,) = dsn.parse(load("dsn_postfix_full.eml")).bounces
    assert full.status == "5.2.2" and dsn.severity(full, HARD) == "soft"
    delayed = dsn.parse(load("dsn_postfix_delayed.eml"))
    assert delayed.original_message_id == "<63.0f1e2d3c4b5a6978@mail.example-lexus-dealer.jp>"
    assert dsn.severity(delayed.bounces[0], HARD) == "delayed"


def test_gmail_dsn() -> None:
    m = load("dsn_gmail.eml")
    assert ingest.classify(m) == "dsn"
    d = dsn.parse(m)
    assert d.reporting_mta == "googlemail.com"
    assert d.original_message_id == "<58.9c8b7a6f5e4d3c2b@mail.example-lexus-dealer.jp>"
    (b,) = d.bounces
    assert b.recipient == "taro.yamada.gone@gmail.com"
    assert dsn.severity(b, HARD) == "hard"
    assert "NoSuchUser" in b.diagnostic


def test_exchange_online_ndr() -> None:
    d = dsn.parse(load("dsn_exchange.eml"))
    (b,) = d.bounces
    assert b.recipient == "jiro.suzuki@contoso-motors.co.jp"
    assert b.status == "5.1.10"  # RESOLVER.ADR.RecipientNotFound: matched by "5.1.*"
    assert dsn.severity(b, HARD) == "hard"
    assert d.original_message_id == "<59.1122334455667788@mail.example-lexus-dealer.jp>"


def test_yahoo_cfl_complaint() -> None:
    m = load("arf_yahoo_cfl.eml")
    assert ingest.classify(m) == "complaint"
    c = arf.parse(m)
    assert c.feedback_type == "abuse" and c.feedback_type in arf.COMPLAINT_TYPES
    assert c.user_agent == "Yahoo!-Mail-Feedback/2.0"
    assert c.original_rcpt == "kenji.tanaka@yahoo.com"
    assert c.original_message_id == "<71.d00df00dcafe0001@mail.example-lexus-dealer.jp>"
    assert c.reported_domain == "mail.example-lexus-dealer.jp"
    assert "<campaigns.mail.example-lexus-dealer.jp>" in c.list_id


def test_generic_fbl_with_a_redacted_recipient() -> None:
    c = arf.parse(load("arf_generic.eml"))
    assert c.original_rcpt is None  # "redacted@example-isp.jp" is no address to act on
    assert c.original_message_id == "<72.0123456789abcdef@mail.example-lexus-dealer.jp>"
    assert c.source_ip == "192.0.2.25" and c.reporting_mta == "mail.fbl.example-isp.jp"
    assert c.arrival == dt.datetime(2026, 12, 2, 16, 58, 12, tzinfo=dt.UTC)


def test_google_dmarc_aggregate_report() -> None:
    m = load("dmarc_google.eml")
    assert ingest.classify(m) == "dmarc"
    (xml,) = dmarc.attachments(m)
    assert xml == (FIX / "dmarc_google.xml").read_bytes()
    r = dmarc.parse_xml(xml)
    assert (r.org_name, r.report_id) == ("google.com", "9391651994964116463")
    assert r.begin == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert (r.domain, r.policy) == ("mail.example-lexus-dealer.jp", "none")
    assert [(x.source_ip, x.count, x.dkim, x.spf) for x in r.records] == [
        ("192.0.2.25", 1840, "pass", "pass"),
        ("198.51.100.77", 212, "fail", "pass"),
        ("203.0.113.9", 37, "fail", "fail"),
    ]


def test_dmarc_gzip_attachment_and_hostile_xml() -> None:
    xml = (FIX / "dmarc_google.xml").read_bytes()
    m = EmailMessage()
    m["Subject"] = "Report domain: x"
    m.set_content("report")
    m.add_attachment(
        gzip.compress(xml), maintype="application", subtype="gzip", filename="r.xml.gz"
    )
    assert dmarc.attachments(m) == [xml]
    bomb = b'<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY a "aaaa">]><feedback>&a;</feedback>'
    with pytest.raises(ReportError):
        dmarc.parse_xml(bomb)  # entities are refused, not expanded
    with pytest.raises(ReportError):
        dmarc.parse_xml(b"<html/>")


def test_zip_bomb_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dmarc, "MAX_XML_BYTES", 1000)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.xml", b"<feedback>" + b" " * 100_000 + b"</feedback>")
    m = EmailMessage()
    m.set_content("x")
    m.add_attachment(buf.getvalue(), maintype="application", subtype="zip", filename="big.zip")
    with pytest.raises(ReportError):
        dmarc.attachments(m)


def test_ordinary_mail_is_no_report() -> None:
    m = EmailMessage()
    m["Subject"] = "配信停止してください"
    m.set_content("よろしくお願いします")
    assert ingest.classify(m) is None


def test_severity_of_codes() -> None:
    def b(action: str, status: str) -> Bounce:
        return Bounce("a@b.jp", action, status)

    assert dsn.severity(b("failed", "5.1.2"), HARD) == "hard"
    assert dsn.severity(b("failed", "5.2.1"), HARD) == "hard"
    assert dsn.severity(b("failed", "5.7.1"), HARD) == "soft"
    assert dsn.severity(b("failed", "4.4.7"), HARD) == "soft"  # given up after retries
    assert dsn.severity(b("delayed", "4.4.1"), HARD) == "delayed"
    assert dsn.severity(b("delivered", "2.0.0"), HARD) == "delivered"


@settings(deadline=None)  # the machine is shared: timing says nothing here
@given(
    local=st.from_regex(r"[A-Za-z0-9._%+-]{1,20}", fullmatch=True),
    domain=st.from_regex(r"[A-Za-z0-9-]{1,10}(\.[A-Za-z]{2,5}){1,2}", fullmatch=True),
    dots=st.integers(0, 2),
)
def test_normalise_ignores_case_and_trailing_dots(local: str, domain: str, dots: int) -> None:
    a = addresses.normalise(f" <{local}@{domain}{'.' * dots}> ")
    assert a == f"{local}@{domain}".lower()
    assert addresses.normalise(a) == a  # idempotent


def test_rate_levels_at_the_thresholds() -> None:
    cfg = FeedbackConfig(min_sent=1000)
    d = dt.date(2026, 12, 1)
    judged = rates.judge(
        {(d, "campaign"): 1000, (d, "reminder"): 1000, (d - dt.timedelta(1), "campaign"): 999},
        {(d, "campaign"): 3, (d, "reminder"): 1, (d - dt.timedelta(1), "campaign"): 9},
        cfg,
    )
    levels = {(r.day, r.stream): r.level for r in judged}
    assert levels[(d, "campaign")] == "pause"  # 0.3 %
    assert levels[(d, "reminder")] == "alert"  # 0.1 %: the alert fires at 0.1 % (R25)
    assert levels[(d - dt.timedelta(1), "campaign")] == "low_volume"
    assert rates.level(1000, 0, cfg) == "ok"
    assert rates.level(10_000, 9, cfg) == "ok"  # 0.09 %
