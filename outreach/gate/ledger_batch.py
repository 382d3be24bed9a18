"""Group commit for the one-click path: consent changes that are each a whole transaction,
written together when they arrive together (PostgreSQL).

A burst of one-click opt-outs (mail providers send them after every campaign) is many small
transactions of two statements each; on a 2-core machine their round trips, the driver's
work and PostgreSQL's per-statement and per-commit work were most of an opt-out's cost. A
`LedgerBatcher` lets the first change go at once, alone, and what arrives while it is in
flight waits for it and then goes together: one read of every customer in the group, then one
statement (`consent.append_pg`, the one `consent.record_alone` writes a single change with)
that moves each record from the sequence read (compare-and-swap) and inserts the event of
each record it moved — one commit for the group. Under light load every batch is one
change and nothing waits; under a burst the batches grow, and the cost per change falls as
the load rises.

Each caller still gets its own answer, after its change has committed: True (recorded),
False (nothing to change), NotFound, or the database error. A change whose record another
writer moved first (a staff correction, a second click) is retried alone by
`consent.record_alone`, which reads again. A group never holds two changes of one customer:
the second waits for the next group, so its read sees the first.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Unpack

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from outreach.gate import consent


@dataclass(slots=True)
class _Ask:
    customer_id: int
    kw: consent.EventArgs
    done: asyncio.Future[bool]


@dataclass
class LedgerBatcher:
    """One per process and engine. `record` takes `consent.record_alone`'s arguments."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    max_batch: int = 100
    _queue: deque[_Ask] = field(default_factory=deque, init=False)
    _draining: bool = field(default=False, init=False)
    batches: int = field(default=0, init=False)  # groups committed (for tests and metrics)
    _tasks: set[asyncio.Future[Any]] = field(default_factory=set, init=False)

    async def record(self, customer_id: int, **kw: Unpack[consent.EventArgs]) -> bool:
        consent.check(kw)
        if self.engine.dialect.name != "postgresql":  # SQLite: one writer anyway
            return await consent.record_alone(self.engine, self.sessions, customer_id, **kw)
        kw.setdefault("legal_basis", None)
        kw.setdefault("evidence", None)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append(_Ask(customer_id, kw, done))
        if not self._draining:
            self._draining = True
            self._keep(asyncio.create_task(self._drain()))
        return await done

    async def _drain(self) -> None:
        try:
            while self._queue:
                group = self._take()
                try:
                    await self._commit(group)
                except Exception as e:  # every caller of the group gets the error
                    for a in group:
                        _answer(a.done, error=e)
                self.batches += 1
        finally:
            self._draining = False

    def _take(self) -> list[_Ask]:
        group: list[_Ask] = []
        seen: set[int] = set()
        later: list[_Ask] = []
        while self._queue and len(group) < self.max_batch:
            a = self._queue.popleft()
            (later if a.customer_id in seen else group).append(a)
            seen.add(a.customer_id)
        self._queue.extendleft(reversed(later))  # the next group, in their order
        return group

    async def _commit(self, group: list[_Ask]) -> None:
        import asyncpg

        async with self.engine.connect() as conn:
            driver: Any = (await conn.get_raw_connection()).driver_connection
            try:
                rows = {
                    r[0]: r[1:]
                    for r in await driver.fetch(_READ_MANY, [a.customer_id for a in group])
                }
                moving: list[tuple[_Ask, consent.Change, int]] = []
                for a in group:
                    try:
                        c = consent.change(a.customer_id, rows.get(a.customer_id), **a.kw)
                    except Exception as e:  # NotFound: this caller's answer, not the group's
                        _answer(a.done, error=e)
                        continue
                    if c is None:
                        _answer(a.done, False)
                    else:
                        moving.append((a, c, rows[a.customer_id][0]))
                moved: set[int] = set()
                if moving:
                    moved = await consent.append_pg(
                        driver, [(c, prev, a.kw["now"]) for a, c, prev in moving]
                    )
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                if driver.is_closed():
                    await conn.invalidate(e)
                raise OperationalError("consent append (group)", None, e) from e
        for a, _, _ in moving:
            if a.customer_id in moved:
                _answer(a.done, True)
            else:  # another writer moved this record first: read again, alone
                alone = asyncio.ensure_future(
                    consent.record_alone(self.engine, self.sessions, a.customer_id, **a.kw)
                )
                self._keep(alone)
                _chain(alone, a.done)

    def _keep(self, task: asyncio.Future[Any]) -> None:
        """Hold a reference until it is done (the loop keeps only weak ones)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _answer(
    done: asyncio.Future[bool], result: bool = False, *, error: BaseException | None = None
) -> None:
    """Answer one caller, unless it has gone (a client that disconnected cancels its wait;
    its change still commits with the group, and the others' answers are not disturbed)."""
    if done.done():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)


def _chain(src: asyncio.Future[bool], dst: asyncio.Future[bool]) -> None:
    def copy(f: asyncio.Future[bool]) -> None:
        if f.cancelled():
            _answer(dst, error=asyncio.CancelledError())
        elif f.exception() is not None:
            _answer(dst, error=f.exception())
        else:
            _answer(dst, f.result())

    src.add_done_callback(copy)


_READ_MANY = """
SELECT id, ledger_seq, ledger_head, opt_outs, use_suspended, consents
FROM customers WHERE id = ANY($1::bigint[])
"""
