"""R13 on both databases: what is past its period goes, younger records and the evidence
§E/R17 asks for stay; a dry run lists and changes nothing; a second run does nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from outreach import bootstrap
from outreach.clock import JST
from outreach.db.models import (
    AuditEntry,
    ConsentEvent,
    Customer,
    EmailBasis,
    GateDecision,
    OutboxMessage,
    ProvisionRecord,
    SendAttempt,
)
from outreach.errors import ConfigError
from outreach.retention import job, periods

REPO = Path(__file__).resolve().parents[2]
P = periods.load(REPO / "config" / "retention.toml")
NOW = dt.datetime(2026, 3, 3, 3, 30, tzinfo=JST)
DAY = dt.timedelta(days=1)


async def seed(app: bootstrap.App) -> dict[str, int]:
    ids: dict[str, int] = {}
    async with app.sessions() as s:
        for key, status, updated in (
            ("active_old", "active", NOW - 4000 * DAY),
            ("closed_old", "closed", NOW - 1200 * DAY),
            ("closed_recent_ad", "closed", NOW - 1200 * DAY),
            ("closed_young", "closed", NOW - 100 * DAY),
        ):
            r = await s.execute(
                insert(Customer)
                .values(
                    external_id=key, name_kanji="髙橋 一郎", email=f"{key}@example.jp",
                    phone="03-0000-0000", postal_code="1000001", address="東京都千代田区1-1",
                    status=status, created_at=updated, updated_at=updated,
                )
                .returning(Customer.id)
            )  # fmt: skip
            cid = ids[key] = r.scalar_one()
            await s.execute(
                insert(EmailBasis).values(
                    customer_id=cid, email=f"{key}@example.jp", basis="opt_in",
                    evidence_at=updated, evidence_method="web_form", evidence_text="同意します",
                )
            )  # fmt: skip
            await s.execute(
                insert(ConsentEvent).values(
                    customer_id=cid, seq=1, action="opt_out", scope="all", evidence={},
                    source="link", actor="customer", occurred_at=updated, hash="x" * 64,
                )
            )  # fmt: skip

        def outbox(key: str, cid: int, at: dt.datetime, ad: bool = False) -> dict[str, Any]:
            return dict(
                idempotency_key=key, customer_id=cid, purpose="p3", category="marketing",
                channel="email", kind="campaign", template="t", items=["name"], status="sent",
                not_before=at, created_at=at, sent_at=at, advertising=ad,
                to_address=f"{next(k for k, v in ids.items() if v == cid)}@example.jp",
            )  # fmt: skip

        old_sent = NOW - 1200 * DAY
        await s.execute(
            insert(OutboxMessage),
            [
                outbox("old", ids["active_old"], old_sent),
                outbox("young", ids["active_old"], NOW - 1000 * DAY),
                outbox("recent_ad", ids["closed_recent_ad"], NOW - 10 * DAY, ad=True),
            ],
        )
        ob_old = await s.scalar(
            select(OutboxMessage.id).where(OutboxMessage.idempotency_key == "old")
        )
        assert ob_old is not None
        ids["outbox_old"] = ob_old
        await s.execute(
            insert(SendAttempt).values(outbox_id=ob_old, attempt=1, at=old_sent, result="sent")
        )
        await s.execute(
            insert(GateDecision),
            [
                dict(customer_id=ids["active_old"], purpose="p3", channel="email", allowed=True,
                     policy_version=2, decided_at=at)
                for at in (NOW - 500 * DAY, NOW - 10 * DAY)
            ],
        )  # fmt: skip
        await s.execute(
            insert(ProvisionRecord),
            [
                dict(direction="provide", counterparty="トヨタ自動車株式会社",
                     customer_id=ids["active_old"], items=["①"], basis="joint_use", detail={},
                     at=NOW - days * DAY)
                for days in (1100, 1090)  # just over and just under 3 years
            ],
        )  # fmt: skip
        await s.commit()
    return ids


async def counts(app: bootstrap.App) -> dict[str, int]:
    async with app.sessions() as s:
        out = {}
        for m in (
            OutboxMessage,
            SendAttempt,
            GateDecision,
            ProvisionRecord,
            EmailBasis,
            ConsentEvent,
        ):
            out[m.__tablename__] = await s.scalar(select(func.count()).select_from(m)) or 0
        return out


async def test_dry_run_lists_then_the_run_removes_only_what_is_past(
    app: bootstrap.App, tmp_path: Path
) -> None:
    ids = await seed(app)
    work = tmp_path / "data" / "print"
    work.mkdir(parents=True)
    stale, fresh = work / "old.csv", work / "new.csv"
    stale.write_text("x")
    fresh.write_text("y")
    old = (NOW - 200 * DAY).timestamp()
    os.utime(stale, (old, old))
    os.utime(fresh, (NOW.timestamp(), NOW.timestamp()))
    before = await counts(app)

    async with app.sessions() as s:
        plan = await job.run(s, P, NOW, data_dir=tmp_path / "data", dry_run=True)
    assert plan.counts == {
        "send_log": 1, "gate_decisions": 1, "provision_records": 1, "incidents": 0,
        "closed_customers": 2, "consent_evidence_of_closed_customers": 1, "work_lists": 1,
    }  # fmt: skip
    assert plan.samples["send_log"] == [ids["outbox_old"]]
    assert set(plan.samples["closed_customers"]) == {ids["closed_old"], ids["closed_recent_ad"]}
    assert await counts(app) == before and stale.exists()  # nothing changed

    async with app.sessions() as s:
        done = await job.run(s, P, NOW, data_dir=tmp_path / "data", dry_run=False)
    assert done.counts == plan.counts
    after = await counts(app)
    assert after["outbox"] == before["outbox"] - 1 and after["send_attempts"] == 0
    assert after["gate_decisions"] == 1 and after["provision_records"] == 1
    # R17: only the evidence of a closed customer without a recent advertising mail goes;
    # active customers' evidence and the opt-out ledger stay whatever their age
    assert after["email_bases"] == before["email_bases"] - 1
    assert after["consent_events"] == before["consent_events"]
    assert not stale.exists() and fresh.exists()
    async with app.sessions() as s:
        rows = {c.external_id: c for c in (await s.scalars(select(Customer))).all()}
        young_prov = await s.scalar(select(ProvisionRecord.at))
        kept_bases = set((await s.scalars(select(EmailBasis.customer_id))).all())
        audit = (
            await s.scalars(select(AuditEntry.after).where(AuditEntry.action == "retention.run"))
        ).all()
    assert rows["closed_old"].name_kanji == job.ANONYMISED and rows["closed_old"].email is None
    assert rows["closed_old"].phone is None and rows["closed_old"].address is None
    assert rows["closed_young"].name_kanji == "髙橋 一郎"  # not yet past its period
    assert rows["active_old"].email == "active_old@example.jp"  # active: never touched
    assert young_prov is not None and young_prov > NOW - 1095 * DAY  # R5: < 3 years stays
    assert ids["closed_recent_ad"] in kept_bases and ids["closed_old"] not in kept_bases
    assert audit == [done.counts]

    async with app.sessions() as s:
        again = await job.run(s, P, NOW, data_dir=tmp_path / "data", dry_run=False)
    assert set(again.counts.values()) == {0}


def test_periods_below_the_legal_minimum_are_refused(tmp_path: Path) -> None:
    text = (REPO / "config" / "retention.toml").read_text(encoding="utf-8")
    for kind, short in (("provision_records", 1000), ("send_log", 365), ("incidents", 1000)):
        bad = tmp_path / "r.toml"
        bad.write_text(
            text.replace(f"{kind} = {getattr(P, kind)}", f"{kind} = {short}"), encoding="utf-8"
        )
        with pytest.raises(ConfigError, match=f"periods.{kind}.*minimum"):
            periods.load(bad)
    assert dataclasses.asdict(P)["consent_evidence_after_last_ad"] >= 31


def test_the_retention_job_is_scheduled() -> None:
    from outreach import schedule

    jobs = {j.id: j for j in schedule.load_jobs(REPO / "jobs")}
    assert jobs["retention"].what == "outreach.retention.job:scheduled"
    assert schedule.resolve(jobs["retention"].what) is job.scheduled
