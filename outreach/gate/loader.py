"""The gate's state loader: the state of many customers in a few queries.

Loading selects only the columns the rules read, with Core (no ORM objects), read as plain
driver rows (db.bulk), and the JSON preference columns are read as text and parsed once per
distinct value (almost every customer has `[]`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Text,
    and_,
    case,
    select,
    type_coerce,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import addresses
from outreach.db.bulk import Driver, among, among_named, among_value, chunks
from outreach.db.models import Customer, EmailBasis, OutboxMessage, Store, Suppression
from outreach.gate.context import GateContext
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
    driver = await Driver.of(session)
    name = driver.dialect.name
    compiled = _BY_IDS.get(name)
    if compiled is None:  # the same SQL for any ids: compiled once per dialect
        compiled = _BY_IDS[name] = driver.compile(
            _state_query().where(among_named(name, _c.id, "ids"))
        )
    out: dict[int, CustomerState] = {}
    for part in chunks(ids, IN_CHUNK):
        recent = await _recent(session, ctx, among(name, _ob.customer_id, part), now)
        rows = await driver.fetch_compiled(compiled, {"ids": among_value(name, part)})
        for s in _states(rows, closing, recent, parse):
            out[s.customer_id] = s
    return out


_BY_IDS: dict[str, Any] = {}  # dialect name → the state query for named ids, compiled


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
    driver = await Driver.of(session)

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
