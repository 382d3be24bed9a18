"""Channel choice, gate and outbox for one chunk of a daily run's candidates: the
preference order among the channels the customer is reachable on, the next one when the
gate denies the first; every decision recorded, each allowed one queued once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import enqueue, outbox
from outreach.candidates.facts import Candidate
from outreach.daily.selection import IN_CHUNK
from outreach.daily.setup import Setup
from outreach.daily.summary import Summary
from outreach.db.bulk import chunks
from outreach.db.models import Customer, OutboxMessage
from outreach.gate import decision


@dataclass(frozen=True)
class Contact:
    email: str | None
    has_postal: bool
    has_phone: bool

    def reachable(self, channel: str) -> bool:
        if channel == "email":
            return bool(self.email)
        return self.has_postal if channel == "post" else self.has_phone


async def _contacts(session: AsyncSession, ids: Sequence[int]) -> dict[int, Contact]:
    out: dict[int, Contact] = {}
    for part in chunks(ids, IN_CHUNK):
        stmt = select(
            Customer.id,
            Customer.email,
            Customer.postal_code,
            Customer.address,
            Customer.phone,
            Customer.phone_unreachable_at,
        ).where(Customer.id.in_(part))
        for cid, email, postal, address, phone, wrong in await session.execute(stmt):
            # A number a call found wrong is no way to reach the customer (until corrected).
            out[cid] = Contact(email or None, bool(postal and address), bool(phone) and not wrong)
    return out


async def _existing(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    out: set[str] = set()
    k = OutboxMessage.idempotency_key
    for part in chunks(keys, IN_CHUNK):
        rows = await session.execute(select(k).where(k.in_(part)))
        out.update(rows.scalars())
    return out


async def process(
    session: AsyncSession,
    cfg: Setup,
    chunk: Sequence[Candidate],
    run_id: int,
    now: dt.datetime,
    summary: Summary,
    *,
    dry_run: bool,
    check: bool = True,
) -> None:
    """Gate and queue one chunk of candidates in the caller's transaction.

    With `check`, candidates already on the outbox (under any channel) are skipped before
    the gate is asked; without it, the unique key still makes a duplicate impossible."""
    r = cfg.rules
    todo = list(chunk)
    if check:
        queued_keys = await _existing(session, [c.key(ch) for c in chunk for ch in r.channels])
        todo = [c for c in chunk if not any(c.key(ch) in queued_keys for ch in r.channels)]
    summary.already_queued += len(chunk) - len(todo)
    contacts = await _contacts(session, sorted({c.customer_id for c in todo}))
    options: list[list[str]] = []
    for c in todo:
        contact = contacts.get(c.customer_id)
        order = r.kinds[c.kind].stage(c.stage).channels or r.channels
        reach = [ch for ch in order if contact is not None and contact.reachable(ch)]
        options.append(reach or [order[0]])  # unreachable: the gate records why
    # (candidate, channel, outcome): decided, re-decided for a later opening, recorded.
    chosen: list[tuple[Candidate, str, enqueue.Outcome]] = []
    pending = list(range(len(todo)))
    attempt = 0
    while pending:
        idx = [i for i in pending if attempt < len(options[i])]
        if not idx:
            break
        chans = [options[i][attempt] for i in idx]
        asks = [
            (todo[i].customer_id, _request(cfg, todo[i], ch))
            for i, ch in zip(idx, chans, strict=True)
        ]
        outcomes = await enqueue.decide(
            session,
            cfg.gate,
            asks,
            now,
            run_id=run_id,
            subject_keys=[todo[i].key(ch) for i, ch in zip(idx, chans, strict=True)],
            record=not dry_run,
        )
        pending = []
        for i, ch, o in zip(idx, chans, outcomes, strict=True):
            c = todo[i]
            if o.status == enqueue.ALLOWED:
                summary.allowed += 1
            elif o.status == enqueue.DEFERRED:
                summary.deferred += 1
            else:
                summary.count(c, ch, "denied")
                summary.denied_by_reason.update(o.first.reasons)
                if attempt + 1 < len(options[i]):
                    pending.append(i)  # try the next reachable channel
                else:
                    summary.denied += 1
                continue
            chosen.append((c, ch, o))
            summary.count(c, ch, o.status)
        attempt += 1
    if dry_run or not chosen:
        return
    queue = []
    for c, ch, o in chosen:
        contact = contacts.get(c.customer_id)
        draft = outbox.Draft(
            idempotency_key=c.key(ch),
            customer_id=c.customer_id,
            purpose=r.purpose,
            category=r.category,
            channel=ch,
            kind=c.kind,
            template=c.template(ch),
            items=o.final.request.items,
            advertising=c.advertising,
            not_before=o.not_before,
            stage=c.stage,
            due_on=c.due_on,
            vehicle_id=c.vehicle_id,
            policy_id=c.policy_id,
            run_id=run_id,
            to_address=contact.email if (ch == "email" and contact) else None,
        )
        queue.append((draft, o))
    summary.queued += await enqueue.enqueue(session, queue, now=now)
    summary.channels.update(draft.channel for draft, _ in queue)


def _request(cfg: Setup, c: Candidate, channel: str) -> decision.Request:
    """The gate request of a candidate; equal requests are one shared value."""
    key = (c.kind, c.stage, channel, c.advertising, c.insurer)
    req = cfg.requests.get(key)
    if req is None:
        req = cfg.requests[key] = decision.Request(
            purpose=cfg.rules.purpose,
            channel=channel,
            items=cfg.items[(c.kind, c.stage, channel)],
            advertising=c.advertising,
            kind=c.kind,
            insurer=c.insurer,
            # An insurance reminder uses the policy's data, held in that insurer's partition.
            data_insurer=c.insurer,
        )
    return req
