"""Who fires the jobs: one leader, by a PostgreSQL advisory lock or a SQLite lease row."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
from typing import Protocol

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from outreach import bootstrap
from outreach.db.bulk import conflict_insert
from outreach.db.engine import is_postgres
from outreach.db.models import Lease

log = logging.getLogger("outreach.schedule")

LOCK_KEY = 0x6F757472_65616368 & 0x7FFFFFFFFFFFFFFF  # "outreach": the scheduler leader lock
LEASE_NAME = "scheduler"


class Leadership(Protocol):
    async def acquire(self) -> bool: ...
    async def held(self) -> bool: ...
    async def release(self) -> None: ...


class AdvisoryLock:
    """PostgreSQL: a session-level advisory lock held on a dedicated connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self.conn is None:
            self.conn = await self.engine.connect()
        try:
            got = (
                await self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
            ).scalar()
            await self.conn.commit()  # the lock is session-level: it outlives the transaction
        except Exception:
            await self._drop()
            raise
        if not got:
            await self._drop()  # a standby keeps no idle connection
        return bool(got)

    async def held(self) -> bool:
        if self.conn is None:
            return False
        try:
            await self.conn.execute(text("SELECT 1"))
            await self.conn.commit()
        except Exception:
            log.warning("scheduler: lost the leader connection", exc_info=True)
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                await self.conn.commit()
        await self._drop()

    async def _drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()  # never hand a lock-holding session back to the pool
            with contextlib.suppress(Exception):
                await conn.close()


class LeaseRow:
    """SQLite (one process runs the scheduler): a lease row with an expiry, renewed."""

    def __init__(self, app: bootstrap.App, holder: str, ttl: dt.timedelta) -> None:
        self.app = app
        self.holder = holder
        self.ttl = ttl
        self.mine = False

    async def _claim(self) -> bool:
        now = self.app.clock.now()
        t = Lease.__table__
        stmt = conflict_insert(self.app.engine, t).values(
            name=LEASE_NAME, holder=self.holder, expires_at=now + self.ttl
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": self.holder, "expires_at": now + self.ttl},
            where=(t.c.expires_at < now) | (t.c.holder == self.holder),
        )
        async with self.app.sessions() as s, s.begin():
            await s.execute(stmt)
            holder = (
                await s.execute(select(Lease.holder).where(Lease.name == LEASE_NAME))
            ).scalar()
        self.mine = holder == self.holder
        return self.mine

    async def acquire(self) -> bool:
        return await self._claim()

    async def held(self) -> bool:
        try:
            return await self._claim()
        except Exception:
            log.warning("scheduler: could not renew the lease", exc_info=True)
            return False

    async def release(self) -> None:
        if not self.mine:
            return
        with contextlib.suppress(Exception):
            async with self.app.sessions() as s, s.begin():
                await s.execute(
                    delete(Lease).where(Lease.name == LEASE_NAME, Lease.holder == self.holder)
                )
        self.mine = False


def leadership(app: bootstrap.App, ttl: dt.timedelta) -> Leadership:
    if is_postgres(app.engine):
        return AdvisoryLock(app.engine)
    holder = f"{socket.gethostname()}:{os.getpid()}"
    return LeaseRow(app, holder, ttl)
