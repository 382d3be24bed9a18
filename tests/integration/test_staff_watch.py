"""Watching a campaign and the dashboard, on both databases."""

from __future__ import annotations

import datetime as dt

from staffkit import MARKETER, rules, seed_customers, spec

from outreach import bootstrap
from outreach.db.models import GateDecision, OutboxMessage, Run
from outreach.gate import consent
from outreach.staff import campaigns, watch


async def test_results_count_sends_denials_and_the_campaigns_own_opt_outs(
    app: bootstrap.App,
) -> None:
    ids = await seed_customers(app)
    now = app.clock.now()
    async with app.sessions() as s, s.begin():
        c = await campaigns.create(s, spec(), rules(), actor=MARKETER, now=now)
        rows = []
        for i, (ext, status) in enumerate(
            [("C1", "sent"), ("C4", "sent"), ("C6", "queued"), ("C7", "failed")]
        ):
            row = OutboxMessage(
                idempotency_key=f"k{i}",
                customer_id=ids[ext],
                campaign_id=c.id,
                purpose="p3",
                category="marketing",
                channel="email",
                kind="campaign",
                template=f"campaign:{c.id}:v1",
                status=status,
                not_before=now,
                created_at=now,
                sent_at=now + dt.timedelta(minutes=i) if status == "sent" else None,
            )
            s.add(row)
            rows.append(row)
        for cid, reasons, deferred in (
            (ids["C2"], "OPTED_OUT", None),
            (ids["C3"], "CONTACT_UNREACHABLE NO_EMAIL_CONSENT", None),
            (ids["C5"], "OUTSIDE_SEND_WINDOW", now + dt.timedelta(hours=1)),
        ):
            s.add(
                GateDecision(
                    customer_id=cid,
                    campaign_id=c.id,
                    purpose="p3",
                    channel="email",
                    allowed=False,
                    reasons=reasons,
                    deferred_until=deferred,
                    policy_version=2,
                    decided_at=now,
                )
            )
        await s.flush()
        # C1 clicks the one-click link of this campaign's mail; C4 opts out by phone
        await consent.record_event(
            s,
            ids["C1"],
            action="opt_out",
            scope="category:marketing",
            source="one_click",
            actor="customer",
            now=now + dt.timedelta(hours=1),
            evidence={"outbox_id": rows[0].id},
        )
        await consent.record_event(
            s,
            ids["C4"],
            action="opt_out",
            scope="all",
            source="phone",
            actor="aoi",
            now=now + dt.timedelta(hours=1),
        )
        s.add(Run(kind="daily", status="done", started_at=now, summary={"queued": 12}))
        cid = c.id
    async with app.sessions() as s:
        r = await watch.campaign_results(s, cid, now=now - dt.timedelta(minutes=1))
        assert {k: getattr(r.outbox, k) for k in ("sent", "queued", "failed")} == {
            "sent": 2,
            "queued": 1,
            "failed": 1,
        }
        # each person once, under the first reason of their latest decision
        assert {d.code: d.count for d in r.denied} == {
            "OPTED_OUT": 1,
            "CONTACT_UNREACHABLE": 1,
            "OUTSIDE_SEND_WINDOW": 1,
        }
        # C6's message waits for its time (not_before lies a minute ahead of `now` here)
        assert r.deferred == 1 and r.waiting == watch.Waiting(ready=0, scheduled=1, retry=0)
        assert (r.optouts, r.optouts_by_scope) == (1, {"category:marketing": 1})
        assert sum(t.sent for t in r.timeline) == 2

        d = await watch.dashboard(s, now=now + dt.timedelta(hours=2))
        assert d.queue.queued == 1 and d.failures_24h == 1
        assert d.runs[0].summary == {"queued": 12}
        assert d.optout_trend[-1].optouts == 2 and len(d.optout_trend) == 14
