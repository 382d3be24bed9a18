"""The outbox on SQLite and PostgreSQL: the permit door, idempotent enqueue, claim and lease."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import uuid

import pytest
import sendkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from outreach import outbox
from outreach.db import engine as engine_mod
from outreach.db.models import Customer, OutboxMessage, SendAttempt, Suppression
from outreach.errors import GateRefused

NOW = dt.datetime(2026, 1, 5, 0, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=60)


def draft(customer_id: int, key: str | None = None, **kw: object) -> outbox.Draft:
    base = outbox.Draft(
        idempotency_key=key or f"shaken:{customer_id}:2026-03",
        customer_id=customer_id,
        purpose="p2",
        category="service_notice",
        channel="email",
        kind="shaken",
        template="shaken/first",
        items=frozenset({"name", "vehicle"}),
        advertising=False,
        not_before=NOW,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


async def count(engine: AsyncEngine) -> int:
    async with engine_mod.sessionmaker(engine)() as s:
        return int((await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one())


async def seed(engine: AsyncEngine, n: int) -> list[int]:
    async with engine_mod.sessionmaker(engine)() as s, s.begin():
        return await sendkit.add_customers(s, n)


async def test_enqueue_inserts_and_skips_duplicates(engine: AsyncEngine) -> None:
    ids = await seed(engine, 3)
    sessions = engine_mod.sessionmaker(engine)
    items = [(draft(c), sendkit.permit(c)) for c in ids]
    async with sessions() as s, s.begin():
        assert await outbox.enqueue(s, items, now=NOW) == 3
    async with sessions() as s, s.begin():
        # A re-run of the same job: nothing new, no error.
        assert (
            await outbox.enqueue(s, [*items, (draft(1, "other"), sendkit.permit(1))], now=NOW) == 1
        )
    assert await count(engine) == 4
    async with sessions() as s:
        row = (
            await s.execute(select(OutboxMessage).where(OutboxMessage.customer_id == 2))
        ).scalar_one()
    assert row.status == "queued" and row.items == ["name", "vehicle"] and row.attempts == 0


@pytest.mark.parametrize(
    "make_permit",
    [
        pytest.param(lambda: None, id="no-permit"),
        pytest.param(lambda: object(), id="not-a-permit"),
        pytest.param(lambda: sendkit.permit(2), id="other-customer"),
        pytest.param(lambda: sendkit.permit(1, purpose="p3"), id="other-purpose"),
        pytest.param(lambda: sendkit.permit(1, channel="post"), id="other-channel"),
        pytest.param(lambda: sendkit.permit(1, items=frozenset({"name"})), id="items-beyond"),
    ],
)
async def test_enqueue_without_matching_permit_is_refused_and_writes_nothing(
    engine: AsyncEngine, make_permit: object
) -> None:
    await seed(engine, 2)
    good = (draft(2), sendkit.permit(2))
    bad = (draft(1), make_permit())  # type: ignore[operator]
    async with engine_mod.sessionmaker(engine)() as s, s.begin():
        with pytest.raises(GateRefused):
            await outbox.enqueue(s, [good, bad], now=NOW)
    assert await count(engine) == 0


def test_a_permit_cannot_be_forged() -> None:
    from outreach.gate import decision

    with pytest.raises(GateRefused):
        decision.Permit(1, "p2", "email", frozenset(), 1, NOW)  # type: ignore[call-arg, arg-type]


async def test_claim_takes_ready_messages_once_and_respects_not_before(engine: AsyncEngine) -> None:
    ids = await seed(engine, 5)
    sessions = engine_mod.sessionmaker(engine)
    later = NOW + dt.timedelta(hours=1)
    async with sessions() as s, s.begin():
        await outbox.enqueue(
            s,
            [(draft(c, not_before=later if c == 5 else NOW), sendkit.permit(c)) for c in ids],
            now=NOW,
        )
    async with sessions() as s, s.begin():
        first = await outbox.claim(s, worker="w1", limit=3, now=NOW, lease=LEASE)
    async with sessions() as s, s.begin():
        second = await outbox.claim(s, worker="w2", limit=10, now=NOW, lease=LEASE)
    assert [c.customer_id for c in first] == [1, 2, 3]
    assert [c.customer_id for c in second] == [4]  # 5 is not due yet
    assert all(c.attempts == 1 for c in first + second)
    async with sessions() as s:
        rows = (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
    assert [r.status for r in rows] == ["sending"] * 4 + ["queued"]
    assert {r.claimed_by for r in rows[:3]} == {"w1"}
    assert rows[0].lease_until == NOW + LEASE


async def test_expired_lease_is_claimable_again(engine: AsyncEngine) -> None:
    await seed(engine, 2)
    sessions = engine_mod.sessionmaker(engine)
    async with sessions() as s, s.begin():
        await outbox.enqueue(s, [(draft(c), sendkit.permit(c)) for c in (1, 2)], now=NOW)
    async with sessions() as s, s.begin():
        dead = await outbox.claim(
            s, worker="dead", limit=10, now=NOW, lease=LEASE, message_domain="mail.example.jp"
        )
    assert len(dead) == 2
    # The Message-ID is fixed by the first claim, before any send.
    assert all(
        re.fullmatch(rf"<{c.id}\.[0-9a-f]{{16}}@mail\.example\.jp>", c.message_id or "")
        for c in dead
    )
    async with sessions() as s, s.begin():  # lease still running: nothing to take
        assert await outbox.claim(s, worker="w2", limit=10, now=NOW + LEASE / 2, lease=LEASE) == []
    async with sessions() as s, s.begin():
        again = await outbox.claim(
            s,
            worker="w2",
            limit=10,
            now=NOW + LEASE + dt.timedelta(seconds=1),
            lease=LEASE,
            message_domain="mail.example.jp",
        )
    assert [c.id for c in again] == [c.id for c in dead]
    # A resend after a crash carries the same Message-ID (the documented duplicate).
    assert [c.message_id for c in again] == [c.message_id for c in dead]
    assert [c.attempts for c in again] == [2, 2]
    # The dead worker's late results are not written over the new owner's claim.
    async with sessions() as s, s.begin():
        held = await outbox.hold(s, [c.id for c in dead], worker="dead", now=NOW, lease=LEASE)
    assert held == set()


async def test_concurrent_claims_never_share_a_message(engine: AsyncEngine) -> None:
    ids = await seed(engine, 40)
    sessions = engine_mod.sessionmaker(engine)
    async with sessions() as s, s.begin():
        await outbox.enqueue(s, [(draft(c), sendkit.permit(c)) for c in ids], now=NOW)

    async def worker(name: str) -> list[int]:
        got: list[int] = []
        while True:
            async with sessions() as s, s.begin():
                batch = await outbox.claim(s, worker=name, limit=3, now=NOW, lease=LEASE)
            if not batch:
                return got
            got += [c.id for c in batch]

    results = await asyncio.gather(*(worker(f"w{i}") for i in range(4)))
    everything = [i for r in results for i in r]
    assert sorted(everything) == sorted(set(everything))
    assert len(everything) == 40


async def test_record_writes_results_attempts_and_suppressions_in_one_batch(
    engine: AsyncEngine,
) -> None:
    await seed(engine, 3)
    sessions = engine_mod.sessionmaker(engine)
    async with sessions() as s, s.begin():
        await outbox.enqueue(s, [(draft(c), sendkit.permit(c)) for c in (1, 2, 3)], now=NOW)
    async with sessions() as s, s.begin():
        c1, c2, c3 = await outbox.claim(s, worker="w", limit=10, now=NOW, lease=LEASE)
    retry_at = NOW + dt.timedelta(minutes=5)
    results = [
        outbox.Result(
            c1.id,
            1,
            "sent",
            "sent",
            NOW,
            250,
            "250 OK",
            message_id="<1@x>",
            to_address="user1@example.jp",
            basis="transaction",
            basis_id=7,
            template_version="3",
            template_hash="ab" * 32,
        ),
        outbox.Result(c2.id, 1, "queued", "temp_fail", NOW, 451, "451 later", not_before=retry_at),
        outbox.Result(
            c3.id,
            1,
            "failed",
            "hard_bounce",
            NOW,
            550,
            "550 5.1.1 unknown",
            suppress="User3@Example.jp",
        ),
    ]
    async with sessions() as s, s.begin():
        await outbox.record(s, results, worker="w")
    async with sessions() as s:
        rows = {r.id: r for r in (await s.execute(select(OutboxMessage))).scalars()}
        attempts = (await s.execute(select(SendAttempt).order_by(SendAttempt.id))).scalars().all()
        sup = (await s.execute(select(Suppression))).scalars().all()
        assert await outbox.suppressed(s, ["USER3@example.jp", "user1@example.jp"]) == {
            "user3@example.jp"
        }
    assert rows[c1.id].status == "sent" and rows[c1.id].sent_at == NOW
    assert (rows[c1.id].message_id, rows[c1.id].basis_id, rows[c1.id].template_version) == (
        "<1@x>",
        7,
        "3",
    )
    assert rows[c1.id].lease_until is None
    assert rows[c2.id].status == "queued" and rows[c2.id].not_before == retry_at
    assert rows[c2.id].last_error == "451 later"
    assert rows[c3.id].status == "failed"
    assert [(a.outbox_id, a.result, a.smtp_code) for a in attempts] == [
        (c1.id, "sent", 250),
        (c2.id, "temp_fail", 451),
        (c3.id, "hard_bounce", 550),
    ]
    assert [(x.email, x.reason) for x in sup] == [("user3@example.jp", "hard_bounce")]
    async with sessions() as s:
        assert (await outbox.counts(s))["queued"] == 1


async def test_email_claim_leaves_post_and_phone_rows_to_the_work_lists(
    engine: AsyncEngine,
) -> None:
    await seed(engine, 3)
    sessions = engine_mod.sessionmaker(engine)
    async with sessions() as s, s.begin():
        await outbox.enqueue(
            s,
            [
                (draft(1, "a", channel="post"), sendkit.permit(1, channel="post")),
                (draft(2, "b", channel="phone"), sendkit.permit(2, channel="phone")),
                (draft(3, "c"), sendkit.permit(3)),
            ],
            now=NOW,
        )
    async with sessions() as s, s.begin():
        got = await outbox.claim(s, worker="w", limit=10, now=NOW, lease=LEASE)
    assert [(c.customer_id, c.channel) for c in got] == [(3, "email")]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(st.integers(min_value=0, max_value=6), max_size=8), max_size=5))
def test_enqueue_is_idempotent_for_any_sequence_of_runs(db_url: str, runs: list[list[int]]) -> None:
    """Whatever is re-run, and in whatever order: one row per idempotency key, and each
    call reports exactly the keys it was first to queue."""
    namespace = uuid.uuid4().hex[:8]

    async def go() -> None:
        eng = engine_mod.make_engine(db_url)
        try:
            sessions = engine_mod.sessionmaker(eng)
            async with sessions() as s, s.begin():
                if not (await s.execute(select(func.count()).select_from(Customer))).scalar():
                    await sendkit.add_customers(s, 1)
            seen: set[int] = set()
            for run in runs:
                async with sessions() as s, s.begin():
                    new = await outbox.enqueue(
                        s,
                        [(draft(1, f"{namespace}:{k}"), sendkit.permit(1)) for k in run],
                        now=NOW,
                    )
                assert new == len(set(run) - seen)
                seen |= set(run)
            async with sessions() as s:
                keys = (
                    (
                        await s.execute(
                            select(OutboxMessage.idempotency_key).where(
                                OutboxMessage.idempotency_key.like(f"{namespace}:%")
                            )
                        )
                    )
                    .scalars()
                    .all()
                )
            assert sorted(keys) == sorted(f"{namespace}:{k}" for k in seen)
        finally:
            await eng.dispose()

    asyncio.run(go())


async def test_a_budgeted_claim_takes_per_lane_and_leaves_the_rest_untouched(
    engine: AsyncEngine,
) -> None:
    """Shipped carrier limits (docomo 2/s, no burst): one docomo message per claim, every
    other message at once, a dead worker's docomo message first; the budget rows move and
    the worker's heartbeat counts it."""
    from outreach.db.models import SendBudget, WorkerHeartbeat
    from outreach.send import config as send_config

    sessions = engine_mod.sessionmaker(engine)
    async with sessions() as s, s.begin():
        docomo = await sendkit.add_customers(s, 3, domain="docomo.ne.jp")
        others = await sendkit.add_customers(s, 3, start=10)
        await outbox.enqueue(s, [(draft(c), sendkit.permit(c)) for c in docomo + others], now=NOW)
    budgets = send_config.load(sendkit.REPO / "config" / "sending.toml").budgets(1000, 10**6)
    clock = [5000.0]

    def wall() -> float:
        return clock[0]

    async with sessions() as s, s.begin():  # a worker dies holding docomo[0]
        await s.execute(
            OutboxMessage.__table__.update()  # type: ignore[attr-defined]
            .where(OutboxMessage.customer_id == docomo[0])
            .values(status="sending", claimed_by="dead", lease_until=NOW - LEASE)
        )
    async with sessions() as s, s.begin():
        got = await outbox.claim(
            s, worker="w1", limit=10, now=NOW, lease=LEASE, budgets=budgets, wall=wall
        )
    assert sorted(c.customer_id for c in got) == sorted([docomo[0], *others])
    assert got.workers == 1 and all(5000.0 <= c.slot <= 5001.0 for c in got)
    async with sessions() as s:
        left = (
            await s.execute(
                select(OutboxMessage.customer_id, OutboxMessage.attempts).where(
                    OutboxMessage.status == "queued"
                )
            )
        ).all()
        tats = dict((await s.execute(select(SendBudget.name, SendBudget.tat))).all())
        beats = dict(
            (await s.execute(select(WorkerHeartbeat.worker_id, WorkerHeartbeat.beat_at))).all()
        )
    assert sorted(left) == [(docomo[1], 0), (docomo[2], 0)]
    assert tats["carrier:docomo/s"] == pytest.approx(5000.5)
    assert not [n for n in tats if n.startswith("worker:")]  # one liveness record: below
    assert beats == {"w1": dt.datetime.fromtimestamp(5000.0, dt.UTC)}
    async with sessions() as s, s.begin():  # docomo's next token is 0.5 s away
        assert (
            await outbox.claim(
                s, worker="w1", limit=10, now=NOW, lease=LEASE, budgets=budgets, wall=wall
            )
            == []
        )
    clock[0] += 0.5
    async with sessions() as s, s.begin():
        later = await outbox.claim(
            s, worker="w1", limit=10, now=NOW, lease=LEASE, budgets=budgets, wall=wall
        )
    assert [c.customer_id for c in later] == [docomo[1]]


async def test_budgeted_claims_count_the_live_workers_from_their_heartbeats(
    engine: AsyncEngine,
) -> None:
    """Each budgeted claim beats its worker's `worker_heartbeats` row and counts the rows
    beaten within `ratelimit.LIVE`: a second worker halves the share, a stale or departed
    one no longer counts."""
    from outreach.db.models import WorkerHeartbeat
    from outreach.send import config as send_config
    from outreach.send import ratelimit

    sessions = engine_mod.sessionmaker(engine)
    budgets = send_config.load(sendkit.REPO / "config" / "sending.toml").budgets(1000, 10**6)

    async def claim(worker: str, t: float) -> outbox.Claims:
        async with sessions() as s, s.begin():
            return await outbox.claim(
                s, worker=worker, limit=10, now=NOW, lease=LEASE, budgets=budgets, wall=lambda: t
            )

    assert (await claim("w1", 5000.0)).workers == 1
    assert (await claim("w2", 5001.0)).workers == 2
    assert (await claim("w1", 5001.0 + ratelimit.LIVE + 0.5)).workers == 1  # w2 went quiet
    assert (await claim("w2", 5012.0)).workers == 2
    async with sessions() as s, s.begin():
        await outbox.leave(s, "w2")
    assert (await claim("w1", 5012.5)).workers == 1
    async with sessions() as s:
        assert list((await s.execute(select(WorkerHeartbeat.worker_id))).scalars()) == ["w1"]
