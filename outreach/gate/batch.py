"""The batch gate path: load the state of many customers in a few queries, decide, persist.

The daily run, campaign previews and `gate audit` all go through here. Loading selects only the
columns the rules read, with Core (no ORM objects), and the JSON preference columns are read
as text and parsed once per distinct value (almost every customer has `[]`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    Text,
    and_,
    case,
    insert,
    select,
    type_coerce,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import addresses
from outreach.db.models import Customer, EmailBasis, GateDecision, OutboxMessage, Store, Suppression
from outreach.gate import rules
from outreach.gate.context import GateContext
from outreach.gate.decision import Decision, Request
from outreach.gate.state import Contact, CustomerState, from_row

CHUNK = 20_000  # customers per query when streaming
IN_CHUNK = 5_000  # ids per IN (...) list
# Outbox statuses that count as a contact for the budget (queued ones will be sent).
_CONTACT_STATUSES = ("queued", "sending", "sent")

_c = Customer.__table__.c
_eb = EmailBasis.__table__.c
_sup = Suppression.__table__.c
_ob = OutboxMessage.__table__.c


def _present(col: Any) -> ColumnElement[bool]:
    return and_(col.is_not(None), col != "")


def _state_query(after: int | None = None) -> Any:
    """The state columns of customers; with `after`, only ids above it (keyset pagination).

    The bound is repeated on the email basis join: PostgreSQL merge-joins email_bases in
    customer order and would otherwise scan it from the start for every chunk.
    """
    has_postal = case((and_(_present(_c.postal_code), _present(_c.address)), 1), else_=0)
    has_phone = case((_present(_c.phone), 1), else_=0)
    # A basis counts only with its evidence (R17): the standard text shown or a reference.
    basis = case((or_evidence(), _eb.basis), else_=None)
    return (
        select(
            _c.id,
            _c.status,
            _c.notice_version,
            _c.acquisition,
            _c.joint_use_partner,
            _c.acquisition_source,
            _c.email,
            has_postal,
            has_phone,
            sql_cast(_c.opt_outs, Text),  # as text on both engines: parsed once per value
            _c.use_suspended,
            sql_cast(_c.consents, Text),
            _c.store_id,
            basis,
            _eb.id,
            _sup.id,
        )
        .select_from(Customer.__table__)
        .outerjoin(
            EmailBasis.__table__,
            and_(
                _eb.customer_id == _c.id,
                _eb.email == _c.email,
                _eb.withdrawn_at.is_(None),
                *([_eb.customer_id > after] if after is not None else []),
            ),
        )
        .outerjoin(Suppression.__table__, _sup.email == addresses.sql_normalised(_c.email))
        .where(*([_c.id > after] if after is not None else []))
    )


def or_evidence() -> ColumnElement[bool]:
    return and_(_eb.id.is_not(None), _eb.evidence_text != "")


class _Driver:
    """The driver connection under the session's transaction, for plain-row reads.

    The gate reads a million rows per audit: building SQLAlchemy `Row` objects would cost as
    much as the query itself, so the compiled statement goes to the driver connection of the
    session's own transaction, with its parameters bound positionally (no type processing:
    the loader's parameters are integers and strings). Only aiosqlite and asyncpg are ever
    configured (see db.engine).
    """

    def __init__(self, dialect: Any, driver: Any) -> None:
        self.dialect = dialect
        self.driver = driver

    @classmethod
    async def of(cls, session: AsyncSession) -> _Driver:
        conn = await session.connection()
        raw = await conn.get_raw_connection()
        return cls(conn.dialect, raw.driver_connection)

    async def fetch(self, stmt: Any) -> Sequence[Sequence[Any]]:
        compiled = stmt.compile(dialect=self.dialect, compile_kwargs={"render_postcompile": True})
        params = [compiled.params[name] for name in compiled.positiontup or ()]
        if self.dialect.name == "sqlite":
            return list(await self.driver.execute_fetchall(str(compiled), params))
        return list(await self.driver.fetch(str(compiled), *params))


async def _fetch(session: AsyncSession, stmt: Any) -> Sequence[Sequence[Any]]:
    return await (await _Driver.of(session)).fetch(stmt)


class _Parser:
    """JSON list columns → frozensets, parsed once per distinct text."""

    def __init__(self) -> None:
        self.cache: dict[Any, frozenset[Any]] = {}

    def __call__(self, raw: Any) -> frozenset[Any]:
        if raw is None:
            return frozenset()
        if isinstance(raw, str):
            hit = self.cache.get(raw)
            if hit is None:
                value = json.loads(raw)
                hit = self.cache[raw] = frozenset(value or ())
            return hit
        return frozenset(raw)


async def store_closing_days(session: AsyncSession) -> dict[int, frozenset[int]]:
    parse = _Parser()
    rows = await session.execute(
        select(Store.__table__.c.id, type_coerce(Store.__table__.c.closing_weekdays, String))
    )
    return {sid: frozenset(int(d) for d in parse(raw)) for sid, raw in rows}


async def _recent(
    session: AsyncSession, ctx: GateContext, where: ColumnElement[bool], now: dt.datetime
) -> dict[int, tuple[Contact, ...]]:
    freq = ctx.policy.frequency
    since = now - dt.timedelta(days=max(freq.window_days, freq.after_higher_days))
    rows = await session.execute(
        select(_ob.customer_id, _ob.created_at, _ob.category, _ob.kind).where(
            where, _ob.created_at >= since, _ob.status.in_(_CONTACT_STATUSES)
        )
    )  # few rows: through SQLAlchemy, so created_at comes back as an aware datetime
    out: dict[int, list[Contact]] = defaultdict(list)
    for cid, at, category, kind in rows:
        out[cid].append(Contact(at=at, category=category, kind=kind))
    return {k: tuple(v) for k, v in out.items()}


def _states(
    rows: Iterable[Sequence[Any]],
    closing: Mapping[int, frozenset[int]],
    recent: Mapping[int, tuple[Contact, ...]],
    parse: _Parser,
) -> list[CustomerState]:
    none: frozenset[int] = frozenset()
    cached = parse.cache.get
    out = []
    for (
        cid,
        status,
        notice_version,
        acquisition,
        partner,
        source,
        email,
        has_postal,
        has_phone,
        opt_outs,
        suspended,
        consents,
        store_id,
        basis,
        basis_id,
        suppression_id,
    ) in rows:
        # SQLite hands JSON over as text (parsed once per distinct value); asyncpg as lists.
        oo = cached(opt_outs) if opt_outs.__class__ is str else None
        if oo is None:
            oo = parse(opt_outs)
        cs = cached(consents) if consents.__class__ is str else None
        if cs is None:
            cs = parse(consents)
        out.append(
            from_row(
                (
                    cid,
                    status,
                    notice_version,
                    acquisition,
                    partner,
                    source,
                    email,
                    suppression_id is not None,
                    basis,
                    basis_id,
                    bool(has_postal),
                    bool(has_phone),
                    oo,
                    bool(suspended),
                    cs,
                    closing.get(store_id, none) if store_id is not None else none,
                    recent.get(cid, ()),
                )
            )
        )
    return out


async def load_states(
    session: AsyncSession, ctx: GateContext, customer_ids: Iterable[int], now: dt.datetime
) -> dict[int, CustomerState]:
    """The state of each named customer (unknown ids are absent), in a few queries."""
    ids = sorted(set(customer_ids))
    closing = await store_closing_days(session)
    parse = _Parser()
    base = _state_query()
    out: dict[int, CustomerState] = {}
    for i in range(0, len(ids), IN_CHUNK):
        part = ids[i : i + IN_CHUNK]
        recent = await _recent(session, ctx, _ob.customer_id.in_(part), now)
        rows = await _fetch(session, base.where(_c.id.in_(part)))
        for s in _states(rows, closing, recent, parse):
            out[s.customer_id] = s
    return out


async def iter_states(
    session: AsyncSession,
    ctx: GateContext,
    now: dt.datetime,
    *,
    where: Sequence[ColumnElement[bool]] = (),
    chunk: int = CHUNK,
    prefetch: bool = False,
) -> AsyncIterator[list[CustomerState]]:
    """Every customer (or those matching `where`, conditions on the customers table) in id
    order, `chunk` at a time: keyset pagination, so memory stays flat over a million.

    With `prefetch`, the next chunk is read while the caller works on this one (the database
    works in parallel with Python); only for callers that do not use `session` between
    chunks (a read-only audit), since one connection runs one statement at a time.
    """
    closing = await store_closing_days(session)
    parse = _Parser()
    driver = await _Driver.of(session)

    async def read(
        after: int | None,
    ) -> tuple[Sequence[Sequence[Any]], dict[int, tuple[Contact, ...]]]:
        query = _state_query(after).where(*where).order_by(_c.id).limit(chunk)
        rows = await driver.fetch(query)
        if not rows:
            return rows, {}
        lo, hi = rows[0][0], rows[-1][0]
        return rows, await _recent(session, ctx, _ob.customer_id.between(lo, hi), now)

    pending: asyncio.Task[Any] | None = None
    rows, recent = await read(None)
    while rows:
        more = len(rows) == chunk
        if more and prefetch:
            pending = asyncio.create_task(read(rows[-1][0]))
            await asyncio.sleep(0)  # let it hand the query to the database before we compute
        try:
            yield _states(rows, closing, recent, parse)
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        if not more:
            return
        if pending is not None:
            rows, recent = await pending
            pending = None
        else:
            rows, recent = await read(rows[-1][0])


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector over a batch.

    A chunk allocates tens of thousands of states and decisions that live until the chunk is
    done; the collector keeps promoting and rescanning them, which measured at ~45% of an
    audit's CPU. Nothing here makes reference cycles (refcounting frees every chunk), so the
    collector is paused for the duration and restored after; other tasks' cycles wait until
    then. Re-entrant: only the outermost pause turns it back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _missing(customer_id: int) -> CustomerState:
    # An id with no customer row: decided as an inactive customer, never allowed.
    return CustomerState(customer_id, status="missing")


async def decide_for(
    session: AsyncSession,
    ctx: GateContext,
    asks: Sequence[tuple[int, Request]],
    now: dt.datetime,
) -> list[Decision]:
    """Decide every (customer id, request), loading all their states in a few queries."""
    with gc_paused():
        states = await load_states(session, ctx, (cid for cid, _ in asks), now)
        decide = rules.decide
        return [decide(ctx, states.get(cid) or _missing(cid), req, now) for cid, req in asks]


async def _copy(session: AsyncSession, t: Table, rows: Sequence[dict[str, Any]]) -> None:
    """PostgreSQL: COPY the rows in (asyncpg's binary COPY), in the session's transaction.

    Half the time of a multi-row INSERT for an audit's million decisions. The values are
    already what the columns hold (aware datetimes for timestamptz, ints, strings, bools).
    """
    driver = await _Driver.of(session)
    columns = list(rows[0])
    await driver.driver.copy_records_to_table(
        t.name, records=[tuple(r[c] for c in columns) for r in rows], columns=columns
    )


async def _executemany(session: AsyncSession, t: Table, rows: Sequence[dict[str, Any]]) -> None:
    """SQLite: one executemany on the driver, values converted by each column type's own
    bind processor (so stored exactly as SQLAlchemy stores them), once per distinct value."""
    driver = await _Driver.of(session)
    dialect = driver.dialect
    compiled = insert(t).compile(dialect=dialect, column_keys=list(rows[0]))
    columns = list(compiled.positiontup or ())
    convert = []
    for i, name in enumerate(columns):
        proc = t.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            convert.append((i, proc, dict[Any, Any]()))
    values = []
    for r in rows:
        v = [r[c] for c in columns]
        for i, proc, seen in convert:
            x = v[i]
            if x is not None:
                y = seen.get(x)
                if y is None:
                    y = seen[x] = proc(x)
                v[i] = y
        values.append(v)
    await driver.driver.executemany(str(compiled), values)


def decision_rows(
    decisions: Sequence[Decision],
    *,
    run_id: int | None = None,
    campaign_id: int | None = None,
    subject_keys: Sequence[str | None] | None = None,
) -> list[dict[str, Any]]:
    if subject_keys is not None and len(subject_keys) != len(decisions):
        raise ValueError("subject_keys must be as long as decisions")
    items_text: dict[frozenset[str], str] = {}
    rows = []
    for n, d in enumerate(decisions):
        r = d.request
        items = items_text.get(r.items)
        if items is None:
            items = items_text[r.items] = " ".join(sorted(r.items))
        rows.append(
            {
                "run_id": run_id,
                "campaign_id": campaign_id if campaign_id is not None else r.campaign_id,
                "customer_id": d.customer_id,
                "purpose": r.purpose,
                "channel": r.channel,
                "allowed": d.allowed,
                "deferred_until": d.deferred_until,
                "reasons": " ".join(d.reasons),
                "items": items,
                "subject_key": subject_keys[n] if subject_keys is not None else None,
                "policy_version": d.policy_version,
                "decided_at": d.decided_at,
            }
        )
    return rows


async def record(
    session: AsyncSession,
    decisions: Sequence[Decision],
    *,
    run_id: int | None = None,
    campaign_id: int | None = None,
    subject_keys: Sequence[str | None] | None = None,
    returning: bool = True,
) -> list[int]:
    """Persist decisions in the caller's transaction (batched inserts); their ids, in order.

    With `returning=False` (an audit that keeps no permits) the ids are not read back and
    the list is empty: a plain executemany, about a third cheaper.
    """
    if not decisions:
        return []
    rows = decision_rows(
        decisions, run_id=run_id, campaign_id=campaign_id, subject_keys=subject_keys
    )
    t = cast(Table, GateDecision.__table__)
    if not returning:
        conn = await session.connection()
        if conn.dialect.name == "postgresql":
            await _copy(session, t, rows)
        else:
            await _executemany(session, t, rows)
        return []
    # RETURNING rows of a multi-row insert come in no guaranteed order (SQLite says so, and
    # SQLAlchemy's ordered mode falls back to one row per statement there): match each id
    # back through the columns that identify the decision; rows alike in all of them are
    # interchangeable.
    result = await session.execute(
        insert(t).returning(
            t.c.id, t.c.customer_id, t.c.purpose, t.c.channel, t.c["items"], t.c.subject_key
        ),
        rows,
    )
    by_key: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for rid, *key in result:
        by_key[tuple(key)].append(rid)
    for ids in by_key.values():
        ids.reverse()
    return [
        by_key[(r["customer_id"], r["purpose"], r["channel"], r["items"], r["subject_key"])].pop()
        for r in rows
    ]
