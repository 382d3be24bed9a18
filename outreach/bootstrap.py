"""The composition root: the one place real adapters are built and wired together.

Callers (CLI, web app, scheduler, tests) build an `App` and pass it down; nothing is
built at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from outreach import settings as settings_mod
from outreach.clock import Clock, SystemClock
from outreach.db import engine as engine_mod


@dataclass
class App:
    settings: settings_mod.Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[Any]
    clock: Clock = field(default_factory=SystemClock)

    async def close(self) -> None:
        await self.engine.dispose()


def build(settings: settings_mod.Settings | None = None, *, clock: Clock | None = None) -> App:
    s = settings or settings_mod.load()
    eng = engine_mod.make_engine(s.resolved_database_url, pre_ping=s.db_pre_ping)
    return App(
        settings=s, engine=eng, sessions=engine_mod.sessionmaker(eng), clock=clock or SystemClock()
    )
