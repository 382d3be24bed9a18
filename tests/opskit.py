"""A lived-in database for the operations tests: demo customers, a daily run, a running
campaign, consent events taken by phone, and part of the outbox sent into a capture folder."""

from __future__ import annotations

import email
import email.policy
import os
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from staffkit import APPROVER, MARKETER, REPO, rules, spec

from outreach import bootstrap, clock, daily, pipeline
from outreach import demo as demo_data
from outreach.db.models import (
    Campaign,
    ConsentEvent,
    Customer,
    GateDecision,
    OutboxMessage,
    SendAttempt,
)
from outreach.gate import consent
from outreach.gate.context import load_context
from outreach.send import file, service
from outreach.staff import campaigns, sending


def capture(folder: Path) -> file.FileTransport:
    return file.FileTransport(folder)


def message_ids(folder: Path) -> list[str]:
    out = []
    for p in sorted(folder.glob("*.eml")):
        msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        out.append(str(msg["Message-ID"]))
    return out


async def lived_in(app: bootstrap.App, sent_to: Path, *, customers: int = 300) -> dict[str, Any]:
    """Fill `app`'s database; the first worker batch is sent into `sent_to`."""
    day = clock.today(app.clock)
    now = app.clock.now()
    await demo_data.load(app.engine, customers=customers, seed=7, today=day)
    run = await daily.run(app, day)
    ctx = load_context(REPO / "config")
    async with app.sessions() as s, s.begin():
        c = await campaigns.create(s, spec(audience=[]), rules(), actor=MARKETER, now=now)
        cid = c.id
        await campaigns.approve(s, cid, 1, rules(), actor=APPROVER, now=now)
        await campaigns.schedule(s, cid, actor=MARKETER, now=now)
    [fired] = await sending.fire_due(app.sessions, ctx, rules(), now=now)
    async with app.sessions() as s, s.begin():
        ids = (await s.scalars(select(Customer.id).order_by(Customer.id).limit(3))).all()
        for i, customer_id in enumerate(ids):
            await consent.record_event(
                s,
                customer_id,
                action="opt_out",
                scope="all" if i == 0 else "category:marketing",
                source="phone",
                actor="staff01",
                now=now,
            )
    w = service.build_worker(app, batch=40, transport=capture(sent_to))
    try:
        first = await pipeline.run_batch(w)
    finally:
        await w.transport.close()
    return {"run": run.as_dict(), "campaign": fired.to_json(), "first_batch": dict(first.results)}


async def fingerprint(app: bootstrap.App) -> dict[str, Any]:
    """What must survive a backup, a restore or an upgrade unchanged."""
    async with app.sessions() as s:

        async def count(model: Any) -> int:
            return int((await s.execute(select(func.count()).select_from(model))).scalar_one())

        outbox = Counter(
            dict(
                (
                    await s.execute(
                        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                    )
                ).all()
            )
        )
        campaign_status = (await s.scalars(select(Campaign.status))).all()
        heads = (await s.scalars(select(Customer.ledger_head).order_by(Customer.id))).all()
        return {
            "customers": await count(Customer),
            "consent_events": await count(ConsentEvent),
            "decisions": await count(GateDecision),
            "attempts": await count(SendAttempt),
            "outbox": dict(outbox),
            "campaigns": sorted(campaign_status),
            "ledger_heads": hash(tuple(heads)),
        }


def env_without_outreach() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
