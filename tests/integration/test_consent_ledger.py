"""The consent ledger's write side and `verify`, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools

from sqlalchemy import insert, select, text, update

from outreach import bootstrap
from outreach.db.models import ConsentEvent, Customer
from outreach.gate import consent, ledger
from outreach.gate import verify as consent_verify

T0 = dt.datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=dt.UTC)


async def add_customers(app: bootstrap.App, n: int) -> list[int]:
    async with app.sessions.begin() as s:
        rows = [
            {
                "external_id": f"C{i:05d}",
                "name_kanji": "髙橋 一郎",
                "email": f"c{i}@example.jp",
                "created_at": T0,
                "updated_at": T0,
            }
            for i in range(n)
        ]
        await s.execute(insert(Customer), rows)
        ids = (await s.execute(select(Customer.id).order_by(Customer.id))).scalars().all()
    return list(ids)


async def record(app: bootstrap.App, cid: int, action: str, scope: str, minute: int = 0) -> bool:
    async with app.sessions.begin() as s:
        return await consent.record_event(
            s,
            cid,
            action=action,
            scope=scope,
            source="phone",
            actor="staff:yamada",
            now=T0 + dt.timedelta(minutes=minute),
            evidence={"note": "電話で受付", "outbox_id": 7},
        )


async def customer(app: bootstrap.App, cid: int) -> Customer:
    async with app.sessions() as s:
        c: Customer | None = await s.get(Customer, cid)
        assert c is not None
        return c


async def test_record_updates_record_and_chains_events(app: bootstrap.App) -> None:
    (cid,) = await add_customers(app, 1)
    assert await record(app, cid, "opt_out", "category:marketing", 0)
    assert await record(app, cid, "opt_out", "kind:shaken", 1)
    assert await record(app, cid, "grant", "insurer_share", 2)
    assert await record(app, cid, "resubscribe", "kind:shaken", 3)
    c = await customer(app, cid)
    assert c.opt_outs == ["category:marketing"]
    assert c.consents == ["insurer_share"]
    assert c.ledger_seq == 4
    assert c.updated_at == T0 + dt.timedelta(minutes=3)
    async with app.sessions() as s:
        evs = (await s.execute(select(ConsentEvent).order_by(ConsentEvent.seq))).scalars().all()
    assert [e.seq for e in evs] == [1, 2, 3, 4]
    assert evs[0].prev_hash is None
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(evs))
    assert c.ledger_head == evs[-1].hash
    assert evs[0].evidence == {"note": "電話で受付", "outbox_id": 7}
    async with app.sessions() as s:
        assert await consent.verify(s) == []


async def test_repeated_event_records_nothing(app: bootstrap.App) -> None:
    (cid,) = await add_customers(app, 1)
    assert await record(app, cid, "opt_out", "category:marketing")
    assert not await record(app, cid, "opt_out", "category:marketing", 5)
    assert not await record(app, cid, "resubscribe", "kind:nini", 6)  # was never opted out
    async with app.sessions() as s:
        n = (await s.execute(select(ConsentEvent.id))).all()
    assert len(n) == 1
    assert (await customer(app, cid)).updated_at == T0


async def test_cessation_suspends_use(app: bootstrap.App) -> None:
    (cid,) = await add_customers(app, 1)
    assert await record(app, cid, "cessation", "all")
    assert (await customer(app, cid)).use_suspended
    assert await record(app, cid, "reinstate", "all", 1)
    assert not (await customer(app, cid)).use_suspended


async def test_bad_input_is_rejected_and_writes_nothing(app: bootstrap.App) -> None:
    import pytest

    from outreach.errors import InputRejected, NotFound

    (cid,) = await add_customers(app, 1)
    with pytest.raises(InputRejected):
        await record(app, cid, "unsubscribe", "all")
    with pytest.raises(InputRejected):
        await record(app, cid, "opt_out", "bad scope!")
    with pytest.raises(NotFound):
        await record(app, cid + 999, "opt_out", "all")
    async with app.sessions() as s:
        assert (await s.execute(select(ConsentEvent.id))).first() is None


async def test_verify_detects_an_edited_row(app: bootstrap.App) -> None:
    a, b = await add_customers(app, 2)
    for i, scope in enumerate(["category:marketing", "kind:shaken", "channel:post"]):
        await record(app, a, "opt_out", scope, i)
        await record(app, b, "opt_out", scope, i)
    async with app.sessions.begin() as s:
        # Someone widens an event's scope in place, and fixes the record to match.
        await s.execute(
            update(ConsentEvent)
            .where(ConsentEvent.customer_id == a, ConsentEvent.seq == 2)
            .values(scope="kind:nini")
        )
        await s.execute(
            update(Customer)
            .where(Customer.id == a)
            .values(opt_outs=["category:marketing", "channel:post", "kind:nini"])
        )
    async with app.sessions() as s:
        problems = await consent.verify(s)
    assert [(p.customer_id, p.code, p.seq) for p in problems] == [(a, "hash_mismatch", 2)]


async def test_verify_detects_a_record_out_of_step(app: bootstrap.App) -> None:
    a, b = await add_customers(app, 2)
    await record(app, a, "opt_out", "category:marketing")
    async with app.sessions.begin() as s:
        # An opt-out removed from the record behind the ledger's back.
        await s.execute(update(Customer).where(Customer.id == a).values(opt_outs=[]))
        # An opt-out written to the record with no ledger event.
        await s.execute(update(Customer).where(Customer.id == b).values(use_suspended=True))
    async with app.sessions() as s:
        problems = await consent.verify(s)
    assert [(p.customer_id, p.code) for p in problems] == [
        (a, "record_out_of_step"),
        (b, "record_out_of_step"),
    ]
    assert "category:marketing" in problems[0].detail
    assert "use_suspended" in problems[1].detail


async def test_verify_detects_a_deleted_event(app: bootstrap.App) -> None:
    (a,) = await add_customers(app, 1)
    for i, scope in enumerate(["category:marketing", "kind:shaken", "channel:post"]):
        await record(app, a, "opt_out", scope, i)
    async with app.sessions.begin() as s:
        await s.execute(text("DELETE FROM consent_events WHERE seq = 2"))
    async with app.sessions() as s:
        codes = {(p.code, p.seq) for p in await consent.verify(s)}
    assert ("seq_gap", 3) in codes
    assert ("prev_hash_mismatch", 3) in codes
    assert ("record_out_of_step", None) in codes


async def test_verify_walks_many_batches(app: bootstrap.App, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(consent_verify, "BATCH", 3)  # the verification batch size
    ids = await add_customers(app, 8)
    for cid in ids:
        await record(app, cid, "opt_out", "category:marketing")
    async with app.sessions.begin() as s:
        await s.execute(update(Customer).where(Customer.id == ids[7]).values(ledger_seq=5))
    async with app.sessions() as s:
        problems = await consent.verify(s)
    assert [(p.customer_id, p.code) for p in problems] == [(ids[7], "record_out_of_step")]


async def test_concurrent_events_for_one_customer_keep_one_chain(app: bootstrap.App) -> None:
    (cid,) = await add_customers(app, 1)
    scopes = [f"campaign:{i}" for i in range(6)]
    results = await asyncio.gather(
        *(record(app, cid, "opt_out", sc, i) for i, sc in enumerate(scopes))
    )
    assert all(results)
    c = await customer(app, cid)
    assert sorted(c.opt_outs) == sorted(scopes)
    assert c.ledger_seq == 6
    async with app.sessions() as s:
        assert await consent.verify(s) == []


async def test_record_alone_under_a_burst_on_one_customer_keeps_one_chain(
    app: bootstrap.App,
) -> None:
    """The one-click path (its own transaction; on PostgreSQL a compare-and-swap that reads
    again when another change came first, then a locked append): 30 parallel changes to one
    customer, plus repeats that change nothing, all land once in one chain."""
    (cid, other) = await add_customers(app, 2)
    scopes = [f"campaign:{i}" for i in range(30)]

    async def alone(scope: str, minute: int) -> bool:
        return await consent.record_alone(
            app.engine,
            app.sessions,
            cid,
            action="opt_out",
            scope=scope,
            source="one_click",
            actor="customer",
            now=T0 + dt.timedelta(minutes=minute),
            evidence={"outbox_id": minute},
        )

    results = await asyncio.gather(*(alone(sc, i) for i, sc in enumerate(scopes)))
    assert all(results)
    again = await asyncio.gather(*(alone(sc, 40) for sc in scopes[:5]))
    assert not any(again)  # already opted out: nothing written
    c = await customer(app, cid)
    assert sorted(c.opt_outs) == sorted(scopes)
    assert c.ledger_seq == 30
    assert (await customer(app, other)).ledger_seq == 0
    async with app.sessions() as s:
        seqs = (
            await s.execute(
                select(ConsentEvent.seq)
                .where(ConsentEvent.customer_id == cid)
                .order_by(ConsentEvent.seq)
            )
        ).scalars()
        assert list(seqs) == list(range(1, 31))
        assert await consent.verify(s) == []


async def test_record_alone_refuses_an_unknown_customer(app: bootstrap.App) -> None:
    import pytest

    from outreach.errors import NotFound

    with pytest.raises(NotFound):
        await consent.record_alone(
            app.engine,
            app.sessions,
            999_999,
            action="opt_out",
            scope="category:marketing",
            source="one_click",
            actor="customer",
            now=T0,
        )
    async with app.sessions() as s:
        assert (await s.execute(select(ConsentEvent.id))).first() is None


def _one_click(scope: str, minute: int) -> consent.EventArgs:
    return consent.EventArgs(
        action="opt_out",
        scope=scope,
        source="one_click",
        actor="customer",
        now=T0 + dt.timedelta(minutes=minute),
        evidence={"outbox_id": minute},
    )


async def test_group_commit_answers_each_change_and_keeps_every_chain(
    app: bootstrap.App,
) -> None:
    """A burst through the one-click path's batcher: two changes for each of 40 customers, a
    repeat that changes nothing and an unknown customer, all at once. Each caller gets its
    own answer; the records and chains are as if one by one; on PostgreSQL they were grouped."""
    import pytest

    from outreach.errors import InputRejected, NotFound
    from outreach.gate.ledger_batch import LedgerBatcher

    ids = await add_customers(app, 40)
    batcher = LedgerBatcher(app.engine, app.sessions)
    asks = [(cid, f"campaign:{k}") for k in (1, 2) for cid in ids] + [(ids[0], "campaign:1")]
    results = await asyncio.gather(
        *(batcher.record(cid, **_one_click(sc, i)) for i, (cid, sc) in enumerate(asks)),
        batcher.record(999_999, **_one_click("campaign:1", 0)),
        return_exceptions=True,
    )
    assert results[:80] == [True] * 80
    assert results[80] is False  # campaign:1 again for ids[0]: nothing to change
    assert isinstance(results[81], NotFound)
    for cid in ids:
        c = await customer(app, cid)
        assert sorted(c.opt_outs) == ["campaign:1", "campaign:2"]
        assert c.ledger_seq == 2
    async with app.sessions() as s:
        assert await consent.verify(s) == []
    if app.engine.dialect.name == "postgresql":
        assert 2 <= batcher.batches < len(asks)  # grouped: fewer commits than changes
    bad = _one_click("campaign:3", 0)
    bad["action"] = "bogus"
    with pytest.raises(InputRejected):  # a bad change is refused before it is queued
        await batcher.record(ids[0], **bad)


async def test_a_caller_that_goes_away_does_not_disturb_its_group(app: bootstrap.App) -> None:
    """A client that disconnects while its group is written (its wait cancelled): its change
    still commits with the group, and every other caller gets its own answer."""
    from outreach.gate.ledger_batch import LedgerBatcher

    ids = await add_customers(app, 12)
    batcher = LedgerBatcher(app.engine, app.sessions)
    first = asyncio.ensure_future(batcher.record(ids[0], **_one_click("campaign:1", 0)))
    await asyncio.sleep(0)  # the first group (this one alone) is under way
    waits = [
        asyncio.ensure_future(batcher.record(cid, **_one_click("campaign:1", i)))
        for i, cid in enumerate(ids[1:])
    ]
    await asyncio.sleep(0)
    waits[3].cancel()  # gone before its group was answered
    assert await first
    results = await asyncio.gather(*waits, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i != 3] == [True] * 10
    for i, cid in enumerate(ids):
        if i == 4 and app.engine.dialect.name != "postgresql":
            continue  # SQLite writes each change alone: a cancelled one is rolled back
        assert (await customer(app, cid)).opt_outs == ["campaign:1"]  # on PG, grouped: too
    async with app.sessions() as s:
        assert await consent.verify(s) == []


async def test_group_commit_reads_again_when_another_writer_moved_the_record(
    app: bootstrap.App,
) -> None:
    """A staff change holds the customer's row while the one-click's group is written: the
    group's compare-and-swap misses that record, which is then written alone, after it."""
    from outreach.gate.ledger_batch import LedgerBatcher

    (cid,) = await add_customers(app, 1)
    batcher = LedgerBatcher(app.engine, app.sessions)
    async with app.sessions.begin() as s:
        assert await record_in(s, cid, "kind:shaken")
        clicked = asyncio.ensure_future(batcher.record(cid, **_one_click("campaign:9", 1)))
        await asyncio.sleep(0.3)
        assert not clicked.done()  # waits for the staff transaction
    assert await clicked
    c = await customer(app, cid)
    assert sorted(c.opt_outs) == ["campaign:9", "kind:shaken"]
    assert c.ledger_seq == 2
    async with app.sessions() as s:
        assert await consent.verify(s) == []


async def record_in(s: object, cid: int, scope: str) -> bool:
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(s, AsyncSession)
    return await consent.record_event(
        s, cid, action="opt_out", scope=scope, source="phone", actor="staff:yamada", now=T0
    )


def test_check_customer_accepts_an_empty_ledger() -> None:
    assert consent.check_customer(1, [], 0, None, ledger.Prefs()) == []
