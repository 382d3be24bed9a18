"""R12 on both databases: the notice to the people affected by a leak goes by email THROUGH
THE GATE under the legal obligation — no consent, opt-out or 利用停止 stops it, a bounced or
invalid address does — and every mail is in the send log, its subject marked notified, and
the incident's history says who was reached and why the others were not."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import cli_env
from sqlalchemy import insert, select

from outreach import bootstrap
from outreach.clock import JST
from outreach.db.models import (
    AuditEntry,
    Customer,
    GateDecision,
    IncidentSubject,
    OutboxMessage,
    Suppression,
)
from outreach.errors import ConfigError
from outreach.gate import reasons as R
from outreach.gate import rules
from outreach.gate.context import load_context
from outreach.gate.decision import Request
from outreach.gate.state import CustomerState
from outreach.incidents import classes, register
from outreach.incidents import mail as incident_mail
from outreach.send import capture

REPO = Path(__file__).resolve().parents[2]
RULES = classes.load(REPO / "config" / "incidents.toml")
CTX = load_context(REPO / "config")
NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=JST)  # the app fixture's clock: in the send window


async def person(app: bootstrap.App, key: str, **kw: Any) -> int:
    values: dict[str, Any] = dict(
        external_id=key, name_kanji=f"{key} 様子", postal_code="1000001", address="千代田区1-1",
        email=f"{key}@example.jp", created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    values.update(kw)
    async with app.sessions() as s:
        cid = int((await s.execute(insert(Customer).values(**values))).inserted_primary_key[0])
        await s.commit()
    return cid


async def incident(app: bootstrap.App, people: list[int]) -> int:
    async with app.sessions() as s:
        inc = await register.record(
            s, RULES, title="顧客リストの誤送付", discovered_at=NOW - dt.timedelta(hours=3),
            customer_ids=people, items=["name", "email"], actor="test", now=NOW,
        )  # fmt: skip
        return inc.id


async def notify(app: bootstrap.App, incident_id: int) -> incident_mail.Result:
    async with app.sessions() as s:
        return await incident_mail.notify_by_mail(
            s, CTX, incident_id, app=app, actor="test", now=app.clock.now()
        )


async def test_the_notice_reaches_opted_out_and_suspended_people_not_bounced_or_invalid(
    app: bootstrap.App,
) -> None:
    opted_out = await person(app, "optout", opt_outs=["all"])  # no consent, no basis either
    suspended = await person(app, "suspended", use_suspended=True)
    bounced = await person(app, "bounced")
    invalid = await person(app, "invalid", email="invalid@@example")
    no_email = await person(app, "noemail", email=None)
    async with app.sessions() as s:
        await s.execute(
            insert(Suppression).values(
                email="bounced@example.jp", reason="hard_bounce", created_at=NOW
            )
        )
        await s.commit()
    inc = await incident(app, [opted_out, suspended, bounced, invalid, no_email])

    result = await notify(app, inc)
    assert result.sent == 2 and result.deferred == 0 and result.failed == 0
    assert result.refused == {R.CONTACT_UNREACHABLE: 3}

    async with app.sessions() as s:
        log = (
            await s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "incident_notice"))
        ).all()
        subjects = {
            x.customer_id: x
            for x in await s.scalars(
                select(IncidentSubject).where(IncidentSubject.incident_id == inc)
            )
        }
        decisions = (
            await s.scalars(select(GateDecision).where(GateDecision.purpose == "incident_notice"))
        ).all()
        history = (
            await s.scalars(
                select(AuditEntry.after).where(
                    AuditEntry.entity == "incident", AuditEntry.action == "incident.notified"
                )
            )
        ).all()
    # the send log: one sent row per notice, not advertising, under its gate decision
    assert {m.customer_id for m in log} == {opted_out, suspended}
    assert all(m.status == "sent" and not m.advertising and m.channel == "email" for m in log)
    allowed_ids = {d.id for d in decisions if d.allowed}
    assert {m.decision_id for m in log} == allowed_ids and len(decisions) == 5
    # notified exactly those mailed, each naming its send-log row; the others wait for a letter
    for m in log:
        assert subjects[m.customer_id].notified_via == "email"
        assert subjects[m.customer_id].notice_ref == f"outbox:{m.id}"
    for cid in (bounced, invalid, no_email):
        assert subjects[cid].notified_at is None
    assert history == [{"via": "email", "sent": 2, "deferred": 0, "failed": 0,
                        "refused": {R.CONTACT_UNREACHABLE: 3}}]  # fmt: skip
    files = sorted(capture.capture_dir(app.settings.data_dir).rglob("*.eml"))
    assert len(files) == 2
    text = files[0].read_bytes()
    assert b"Subject:" in text and b"incident" in text  # Message-ID names the incident

    again = await notify(app, inc)  # those notified are not mailed twice
    assert again.sent == 0 and again.refused == {R.CONTACT_UNREACHABLE: 3}


async def test_outside_the_send_window_the_notice_waits(app: bootstrap.App, clock: Any) -> None:
    cid = await person(app, "late")
    inc = await incident(app, [cid])
    clock.at = NOW.replace(hour=23)
    result = await notify(app, inc)
    assert result.sent == 0 and result.deferred == 1
    async with app.sessions() as s:
        sub = (await s.scalars(select(IncidentSubject))).one()
    assert sub.notified_at is None


async def test_the_real_dealer_file_with_placeholders_refuses_the_mail(
    app: bootstrap.App,
) -> None:
    cid = await person(app, "real")
    inc = await incident(app, [cid])
    real = app.settings.model_copy(update={"dealer_file": REPO / "config" / "dealer.toml"})
    async with app.sessions() as s:
        with pytest.raises(ConfigError, match="送信開始前に記入"):
            await incident_mail.notify_by_mail(
                s, CTX, inc, app=dataclasses.replace(app, settings=real), actor="test", now=NOW
            )


def test_the_legal_basis_in_the_gate_both_ways() -> None:
    """The same person: a campaign mail is refused (opted out, suspended, no basis), the
    legal notice is allowed; the notice as advertising, by SMS or with other data is not."""
    st = CustomerState(
        1, email="a@example.jp", opt_outs=frozenset({"all"}), use_suspended=True,
        has_postal=True, notice_version=1,
    )  # fmt: skip
    campaign = Request(purpose="p3", channel="email", items=frozenset({"name"}),
                       advertising=True, kind="campaign")  # fmt: skip
    d = rules.decide(CTX, st, campaign, NOW)
    assert not d.allowed and {R.OPTED_OUT, R.USE_SUSPENDED, R.NO_EMAIL_CONSENT} <= set(d.reasons)
    assert rules.decide(CTX, st, incident_mail.REQUEST, NOW).allowed
    bounced = dataclasses.replace(st, email_suppressed=True)
    assert rules.decide(CTX, bounced, incident_mail.REQUEST, NOW).reasons == (
        R.CONTACT_UNREACHABLE,
    )
    for bad, reason in (
        (dataclasses.replace(incident_mail.REQUEST, advertising=True), R.LEGAL_NOTICE_ADVERTISING),
        (dataclasses.replace(incident_mail.REQUEST, advertising=None), R.LEGAL_NOTICE_ADVERTISING),
        (dataclasses.replace(incident_mail.REQUEST, channel="sms"), R.CHANNEL_NOT_ALLOWED),
        (dataclasses.replace(incident_mail.REQUEST, items=frozenset({"name", "vehicle"})),
         R.DATA_ITEM_NOT_ALLOWED),
    ):  # fmt: skip
        assert reason in rules.decide(CTX, st, bad, NOW).reasons
    # a legal notice is no purpose of the published policy
    assert "incident_notice" not in CTX.registry.purposes


async def test_the_command_mails_and_the_history_reads_in_japanese(
    app: bootstrap.App, db_url: str, tmp_path: Path
) -> None:
    cid = await person(app, "cli", opt_outs=["all"])
    inc = await incident(app, [cid])
    config = tmp_path / "config"  # email allowed around the clock: the test runs at any hour
    shutil.copytree(REPO / "config", config)
    gate = (config / "gate.toml").read_text(encoding="utf-8")
    gate = re.sub(
        r'(\[windows\.email\]\nstart = )"[^"]*"\nend = "[^"]*"', r'\1"00:00"\nend = "24:00"', gate
    )
    (config / "gate.toml").write_text(gate, encoding="utf-8")
    env = cli_env(db_url, tmp_path / "data", OUTREACH_CONFIG_DIR=str(config))
    outreach = str(Path(sys.executable).with_name("outreach"))
    sent = await asyncio.to_thread(
        subprocess.run,
        [outreach, "incident", "notify-mail", str(inc)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert sent.returncode == 0, sent.stderr
    assert "通知メール: 送信 1 通" in sent.stdout
    shown = await asyncio.to_thread(
        subprocess.run,
        [outreach, "incident", "show", str(inc)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    assert "事案を記録" in shown.stdout and "本人へ通知（メール 1 名）" in shown.stdout
    assert "incident." not in shown.stdout and "通知済み 1" in shown.stdout
