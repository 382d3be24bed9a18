"""The worker's batch against a real SMTP server (aiosmtpd), on SQLite and PostgreSQL:
claim → gate re-check → build → send → record, opt-outs that land mid-way, relay faults."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sendkit
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from outreach import outbox, pipeline
from outreach.clock import FixedClock
from outreach.db import engine as engine_mod
from outreach.db.models import GateDecision, OutboxMessage, SendAttempt, Suppression
from outreach.errors import GateRefused
from outreach.gate import consent
from outreach.send import config as send_config
from outreach.send import smtp


async def enqueue(engine: AsyncEngine, drafts: list[outbox.Draft]) -> None:
    async with engine_mod.sessionmaker(engine)() as s, s.begin():
        await outbox.enqueue(s, [(d, sendkit.permit(d.customer_id)) for d in drafts])


async def setup(engine: AsyncEngine, n: int) -> list[int]:
    async with engine_mod.sessionmaker(engine)() as s, s.begin():
        ids = await sendkit.add_customers(s, n)
    await enqueue(engine, [sendkit.draft(c) for c in ids])
    return ids


async def rows(engine: AsyncEngine, model: Any) -> list[Any]:
    async with engine_mod.sessionmaker(engine)() as s:
        return list((await s.execute(select(model).order_by(model.id))).scalars())


async def opt_out(engine: AsyncEngine, customer_id: int, clock: FixedClock) -> None:
    async with engine_mod.sessionmaker(engine)() as s, s.begin():
        assert await consent.record_event(
            s,
            customer_id,
            action="opt_out",
            scope="all",
            source="link",
            actor="customer",
            now=clock.now(),
        )


async def drain(w: pipeline.Worker, clock: FixedClock, engine: AsyncEngine) -> None:
    """Run batches, moving the clock past retry delays, until nothing is left queued."""
    for _ in range(60):
        report = await pipeline.run_batch(w)
        if report.claimed:
            continue
        if not any(r.status in ("queued", "sending") for r in await rows(engine, OutboxMessage)):
            return
        clock.advance(dt.timedelta(minutes=6))
    raise AssertionError("the outbox did not drain")


async def test_batch_sends_each_message_once_with_its_send_log(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    ids = await setup(engine, 6)
    with sendkit.SmtpServer() as server:
        transport = smtp.SmtpTransport(smtp.parse_url(server.url), 3)
        w = sendkit.make_worker(engine_mod.sessionmaker(engine), transport, clock)
        report = await pipeline.run_batch(w)
        await transport.close()
    assert report.claimed == 6 and report.results == Counter(sent=6)
    got = {r.message_id: r for r in server.received}
    assert len(server.received) == 6
    messages = await rows(engine, OutboxMessage)
    for m in messages:
        assert m.status == "sent" and m.sent_at == clock.now() and m.lease_until is None
        mail = got[m.message_id.strip("<>")]
        parsed = mail.parsed()
        assert parsed["Message-ID"] == m.message_id
        assert mail.rcpt_tos == [f"user{m.customer_id}@example.jp"]
        assert str(parsed["Subject"]).startswith(f"【車検のご案内】髙橋 太郎{m.customer_id}様")
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # R28: purpose, basis, template version and hash, Message-ID and the result.
        assert (m.purpose, m.basis, m.template_version, m.template_hash) == (
            "p2",
            "purpose",
            "1",
            "0" * 64,
        )
        assert m.message_id.startswith(f"<{m.id}.")
    attempts = await rows(engine, SendAttempt)
    assert [(a.result, a.smtp_code, a.attempt, a.worker) for a in attempts] == [
        ("sent", 250, 1, "w1")
    ] * 6
    decisions = await rows(engine, GateDecision)  # the send-time re-check is persisted
    assert sorted(d.customer_id for d in decisions) == ids and all(d.allowed for d in decisions)


async def test_opt_out_before_the_claim_wins(engine: AsyncEngine, clock: FixedClock) -> None:
    await setup(engine, 3)
    await opt_out(engine, 2, clock)
    with sendkit.SmtpServer() as server:
        transport = smtp.SmtpTransport(smtp.parse_url(server.url), 2)
        w = sendkit.make_worker(engine_mod.sessionmaker(engine), transport, clock)
        report = await pipeline.run_batch(w)
        await transport.close()
    assert report.results == Counter(sent=2, denied=1)
    assert sorted(r.rcpt_tos[0] for r in server.received) == [
        "user1@example.jp",
        "user3@example.jp",
    ]
    m2 = next(m for m in await rows(engine, OutboxMessage) if m.customer_id == 2)
    assert m2.status == "suppressed" and "OPTED_OUT" in (m2.last_error or "")
    a2 = [a for a in await rows(engine, SendAttempt) if a.outbox_id == m2.id]
    assert [(a.result, a.smtp_code) for a in a2] == [("denied", None)]
    assert "OPTED_OUT" in (a2[0].detail or "")


async def test_opt_out_after_the_claim_and_before_the_send_wins(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    await setup(engine, 3)
    with sendkit.SmtpServer() as server:
        transport = smtp.SmtpTransport(smtp.parse_url(server.url), 2)
        w = sendkit.make_worker(engine_mod.sessionmaker(engine), transport, clock)
        claim = await pipeline.claim_batch(w)
        assert len(claim.ready) == 3  # allowed when claimed
        await opt_out(engine, 3, clock)  # committed between the claim and the send
        results = await pipeline.send_batch(w, claim)
        await transport.close()
    assert Counter(r.result for r in results) == Counter(sent=2, denied=1)
    assert "user3@example.jp" not in {r.rcpt_tos[0] for r in server.received}
    m3 = next(m for m in await rows(engine, OutboxMessage) if m.customer_id == 3)
    assert m3.status == "suppressed" and "OPTED_OUT" in (m3.last_error or "")


@pytest.mark.parametrize("forge", ["other-customer", "other-purpose", "none"])
async def test_the_sender_refuses_a_message_without_its_own_permit(
    engine: AsyncEngine, clock: FixedClock, forge: str
) -> None:
    await setup(engine, 2)
    with sendkit.SmtpServer() as server:
        transport = smtp.SmtpTransport(smtp.parse_url(server.url), 1)
        w = sendkit.make_worker(engine_mod.sessionmaker(engine), transport, clock)
        claim = await pipeline.claim_batch(w)
        target = claim.ready[0]
        target.permit = {  # type: ignore[assignment]
            "other-customer": sendkit.permit(2),
            "other-purpose": sendkit.permit(target.message.customer_id, purpose="p3"),
            "none": None,
        }[forge]
        claim.ready = [target]
        with pytest.raises(GateRefused):
            await pipeline.send_batch(w, claim)
        await transport.close()
    assert server.received == []
    # Nothing recorded as sent; the message stays claimed and is recovered after its lease.
    assert {m.status for m in await rows(engine, OutboxMessage)} == {"sending"}


async def test_relay_faults_every_deliverable_message_arrives_once_bounces_are_suppressed(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    n = 24
    bounce = {"user3@example.jp", "user17@example.jp"}
    await setup(engine, n)
    # A later message to a bounced address must not reach the relay at all.
    await enqueue(engine, [sendkit.draft(3, "inspection:3:2026-06", kind="inspection")])
    faults = sendkit.Faults(bounce=bounce, rate=0.5, max_fails=3, seed=11)
    with sendkit.SmtpServer(faults) as server:
        transport = smtp.SmtpTransport(smtp.parse_url(server.url), 4)
        w = sendkit.make_worker(engine_mod.sessionmaker(engine), transport, clock, batch=8)
        await drain(w, clock, engine)
        await transport.close()
    handler = server.handler
    assert any(code == 0 for _, code in handler.refused), "no connection was dropped"
    assert {451, 421} & {code for _, code in handler.refused}
    received = Counter(r.rcpt_tos[0] for r in server.received)
    deliverable = {f"user{i}@example.jp" for i in range(1, n + 1)} - bounce
    assert set(received) == deliverable
    assert set(received.values()) == {1}, "a message arrived twice"
    assert Counter(a for a, code in handler.refused if code == 550) == Counter(bounce)
    messages = await rows(engine, OutboxMessage)
    attempts = await rows(engine, SendAttempt)
    by_msg: dict[int, list[SendAttempt]] = {}
    for a in attempts:
        by_msg.setdefault(a.outbox_id, []).append(a)
    for m in messages:
        tries = by_msg[m.id]
        if m.to_address in bounce or m.customer_id in (3, 17):
            assert m.status in ("failed", "suppressed")
            continue
        assert m.status == "sent"
        # Every failed try is recorded, then exactly one success, attempts numbered in order.
        assert [t.result for t in tries][-1] == "sent"
        assert all(t.result == "temp_fail" for t in tries[:-1])
        assert (
            [t.attempt for t in tries]
            == list(range(1, len(tries) + 1))
            == list(range(1, m.attempts + 1))
        )
    failed = {m.customer_id: m for m in messages if m.status == "failed"}
    assert set(failed) == {3, 17}
    assert [t.result for t in by_msg[failed[3].id]] == ["hard_bounce"]
    later = next(m for m in messages if m.idempotency_key == "inspection:3:2026-06")
    assert later.status == "suppressed"
    assert {s.email for s in await rows(engine, Suppression)} == bounce
    assert sum(len(v) for v in by_msg.values()) > len(messages)  # retries happened


async def test_two_workers_at_once_send_each_message_once(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    await setup(engine, 30)
    with sendkit.SmtpServer() as server:
        transports = [smtp.SmtpTransport(smtp.parse_url(server.url), 2) for _ in range(2)]
        workers = [
            sendkit.make_worker(engine_mod.sessionmaker(engine), t, clock, name=f"w{i}", batch=4)
            for i, t in enumerate(transports)
        ]
        reports = await asyncio.gather(*(pipeline.drain(w, once=True) for w in workers))
        for t in transports:
            await t.close()
    assert sum(r.results["sent"] for r in reports) == 30
    assert sorted(Counter(r.rcpt_tos[0] for r in server.received).values()) == [1] * 30
    assert {m.status for m in await rows(engine, OutboxMessage)} == {"sent"}


async def test_a_throttled_carrier_stays_queued_and_never_holds_back_other_mail(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    async with engine_mod.sessionmaker(engine)() as s, s.begin():
        docomo = await sendkit.add_customers(s, 6, domain="docomo.ne.jp")
        others = await sendkit.add_customers(s, 20, start=100)
    await enqueue(engine, [sendkit.draft(c) for c in docomo + others])
    cfg = dataclasses.replace(
        send_config.load(sendkit.REPO / "config" / "sending.toml"), retry=sendkit.FAST_RETRY
    )
    with sendkit.SmtpServer() as server:
        transport = smtp.SmtpTransport(smtp.parse_url(server.url), 2)
        w = sendkit.make_worker(engine_mod.sessionmaker(engine), transport, clock, config=cfg)
        # docomo: 2 per second, no burst
        w = dataclasses.replace(w, budgets=cfg.budgets(1000, 1_000_000), pacer=None)
        report = await pipeline.run_batch(w)
        # What docomo's budget does not allow now was never claimed: still queued, no
        # attempt counted or recorded, its not_before as it was.
        assert report.claimed == 21 and report.results == Counter(sent=21)
        queued = [m for m in await rows(engine, OutboxMessage) if m.status == "queued"]
        assert sorted(m.customer_id for m in queued) == docomo[1:]
        due = sendkit.draft(1).not_before
        assert all(m.attempts == 0 and m.not_before == due for m in queued)
        attempts = await rows(engine, SendAttempt)
        assert {a.outbox_id for a in attempts}.isdisjoint({m.id for m in queued})
        await asyncio.sleep(0.5)
        report = await pipeline.run_batch(w)
        await transport.close()
    assert report.results == Counter(sent=1)  # the budget has refilled by one
    assert len(server.received) == 22


class Flaky:
    """A transport with a bug for one address; the others go to the real server."""

    def __init__(self, inner: smtp.SmtpTransport, bad: str) -> None:
        self.inner, self.bad = inner, bad

    async def send(self, permit: Any, envelope_from: str, recipients: Any, data: bytes) -> Any:
        if recipients[0] == self.bad:
            raise RuntimeError("transport bug")
        return await self.inner.send(permit, envelope_from, recipients, data)

    async def close(self) -> None:
        await self.inner.close()


async def test_an_unexpected_transport_error_loses_no_result(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    await setup(engine, 4)
    with sendkit.SmtpServer() as server:
        transport = Flaky(smtp.SmtpTransport(smtp.parse_url(server.url), 2), "user2@example.jp")
        w = sendkit.make_worker(engine_mod.sessionmaker(engine), transport, clock)
        report = await pipeline.run_batch(w)
        await transport.close()
    assert report.results == Counter(sent=3, temp_fail=1)
    assert len(server.received) == 3
    by = {m.customer_id: m for m in await rows(engine, OutboxMessage)}
    assert by[2].status == "queued" and "transport bug" in (by[2].last_error or "")
    assert {by[c].status for c in (1, 3, 4)} == {"sent"}


class _BrokenUntilFixed(sendkit.HandComposer):
    """A template that cannot be built until ops fix it."""

    fixed = False

    def compose(
        self, permit: Any, m: Any, message_id: str, data: Any, now: dt.datetime
    ) -> pipeline.Composed:
        if not self.fixed:
            raise FileNotFoundError("templates/mail/reminder_shaken_2/subject.txt")
        return super().compose(permit, m, message_id, data, now)


async def test_a_message_whose_template_cannot_be_built_is_kept_and_sent_once_fixed(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    (cid,) = await setup(engine, 1)
    composer = _BrokenUntilFixed()
    with sendkit.SmtpServer() as server:
        transport = smtp.SmtpTransport(smtp.parse_url(server.url), 1)
        w = dataclasses.replace(
            sendkit.make_worker(engine_mod.sessionmaker(engine), transport, clock),
            composer=composer,
        )
        report = await pipeline.run_batch(w)
        assert report.results == Counter(temp_fail=1)
        (msg,) = await rows(engine, OutboxMessage)
        assert msg.status == "queued" and msg.not_before > clock.now()
        (attempt,) = await rows(engine, SendAttempt)
        assert attempt.result == "temp_fail" and "build:" in (attempt.detail or "")
        composer.fixed = True
        await drain(w, clock, engine)
        await transport.close()
    assert len(server.received) == 1
    (msg,) = await rows(engine, OutboxMessage)
    assert msg.status == "sent" and msg.customer_id == cid


class _GateFailingOnCall:
    """The worker's gate, raising on its n-th `decide` (a bug in a rule, say)."""

    def __init__(self, inner: pipeline.Gate, fail_on: int) -> None:
        self.inner, self.fail_on, self.calls = inner, fail_on, 0

    async def decide(self, session: Any, asks: Any, now: dt.datetime) -> list[Any]:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("rule bug")
        return await self.inner.decide(session, asks, now)

    async def record(self, session: Any, decisions: Any) -> list[int]:
        return await self.inner.record(session, decisions)


@contextlib.asynccontextmanager
async def _first_of_two_batches(
    engine: AsyncEngine, clock: FixedClock
) -> AsyncIterator[tuple[sendkit.SmtpServer, pipeline.Worker, pipeline.Claim]]:
    """Five messages, batches of three: the relay, the worker and its first batch, claimed."""
    await setup(engine, 5)
    with sendkit.SmtpServer() as server:
        transport = smtp.SmtpTransport(smtp.parse_url(server.url), 2)
        w = sendkit.make_worker(engine_mod.sessionmaker(engine), transport, clock, batch=3)
        try:
            yield server, w, await pipeline.claim_batch(w)
        finally:
            await transport.close()


async def test_the_next_batch_is_claimed_in_the_sending_transaction_and_commits_with_it(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    async with _first_of_two_batches(engine, clock) as (server, w, first):
        await pipeline.send_batch(w, first, claim_next=True)
        nxt = first.next
        assert nxt is not None and nxt.claimed == 2 and len(nxt.ready) == 2
        by = {m.id: m for m in await rows(engine, OutboxMessage)}
        # Committed together: the first batch's results and the next batch's claim.
        assert sorted(m.status for m in by.values()) == ["sending"] * 2 + ["sent"] * 3
        assert {by[r.message.id].status for r in nxt.ready} == {"sending"}
        await pipeline.send_batch(w, nxt)
    assert len(server.received) == 5
    assert {m.status for m in await rows(engine, OutboxMessage)} == {"sent"}
    assert len(await rows(engine, SendAttempt)) == 5


async def test_a_failed_claim_inside_the_sending_transaction_costs_no_result(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    async with _first_of_two_batches(engine, clock) as (server, w, first):
        w.gate = _GateFailingOnCall(w.gate, fail_on=1)  # the claim inside the sends fails
        sent = await pipeline.send_batch(w, first, claim_next=True)
        assert first.next is None and [r.result for r in sent] == ["sent"] * 3
        by = {m.customer_id: m for m in await rows(engine, OutboxMessage)}
        # The failed claim was undone alone: its messages are queued and untouched.
        assert sorted(m.status for m in by.values()) == ["queued"] * 2 + ["sent"] * 3
        assert all(m.attempts == 0 for m in by.values() if m.status == "queued")
        assert len(await rows(engine, SendAttempt)) == 3
        report = await pipeline.drain(w, once=True)  # and claimed again on their own
    assert report.results == Counter(sent=2)
    assert len(server.received) == 5 and len({r.message_id for r in server.received}) == 5


async def test_a_next_batch_claimed_in_a_rolled_back_sending_transaction_is_never_sent(
    engine: AsyncEngine, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = outbox.record
    calls = 0

    async def record(session: Any, results: Any, **kw: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the inner claim's refusals, then the sends' results: the disk fails
            raise OSError("disk I/O error")
        await real(session, results, **kw)

    async with _first_of_two_batches(engine, clock) as (server, w, first):
        monkeypatch.setattr(outbox, "record", record)
        with pytest.raises(OSError):
            await pipeline.send_batch(w, first, claim_next=True)
        monkeypatch.setattr(outbox, "record", real)
    assert first.next is None and len(server.received) == 3  # the next batch never left
    by = {m.customer_id: m for m in await rows(engine, OutboxMessage)}
    # Rolled back together: the first batch is still ours ('sending', back after its lease),
    # the next one was never claimed.
    assert sorted(m.status for m in by.values()) == ["queued"] * 2 + ["sending"] * 3
    assert all(m.attempts == 0 for m in by.values() if m.status == "queued")
