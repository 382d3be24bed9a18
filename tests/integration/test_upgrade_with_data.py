"""Upgrades with data in place: a database as release 0001 left it (its schema and its rows:
demo customers, a daily run, a running campaign, phone opt-outs, part of the outbox sent)
is upgraded to head and then used — the ledger verifies, the worker sends the rest once each,
the next daily run adds nothing twice, /readyz is satisfied. On SQLite and PostgreSQL.
And every migration can be reverted, or says why not."""

from __future__ import annotations

import ast
import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, _pg_admin, _pg_url
from opskit import capture, message_ids
from releasekit import load
from sqlalchemy import func, select

from outreach import bootstrap, daily, health, pipeline, settings
from outreach.clock import FixedClock
from outreach.db import migrate
from outreach.db.models import OutboxMessage
from outreach.gate import consent
from outreach.send import service

OLD = "0001"
VERSIONS = REPO / "outreach" / "db" / "migrations" / "versions"


@pytest.fixture
def empty_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database (no schema) of the engine under test."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    name = f"outreach_u_{uuid.uuid4().hex[:12]}"
    _pg_admin(f"CREATE DATABASE {name}")
    yield _pg_url(name)
    _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_a_release_0001_database_upgrades_to_head_and_works(
    empty_url: str, app_settings: settings.Settings, tmp_path: Path
) -> None:
    counts = await load(empty_url, OLD)
    assert counts["customers"] > 0 and counts["outbox"] > 0 and counts["consent_events"] > 0
    await migrate.upgrade(empty_url, "head")

    clock = FixedClock(dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC))  # 19:00 JST, that day
    app = bootstrap.build(app_settings.model_copy(update={"database_url": empty_url}), clock=clock)
    try:
        report = await health.check(app)
        assert {c.name: c.ok for c in report.checks}["migrations"], report.as_dict()
        async with app.sessions() as s:
            assert await consent.verify(s) == []
            sent_before = set(
                (
                    await s.scalars(
                        select(OutboxMessage.message_id).where(OutboxMessage.status == "sent")
                    )
                ).all()
            )
            queued = await s.scalar(select(func.count()).where(OutboxMessage.status == "queued"))
            total = await s.scalar(select(func.count()).select_from(OutboxMessage))
        assert sent_before and queued

        out = tmp_path / "capture"
        w = service.build_worker(app, transport=capture(out))
        try:
            await pipeline.drain(w, once=True)
        finally:
            await w.transport.close()
        sent_now = message_ids(out)
        assert sent_now and not {m.strip("<>") for m in sent_now} & {
            m.strip("<>") for m in sent_before if m
        }

        again = await daily.run(app, dt.date(2026, 1, 5))  # the day the old release ran
        assert again.queued == 0
        async with app.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == total
            assert await consent.verify(s) == []
    finally:
        await app.close()


def _downgrade(path: Path) -> ast.FunctionDef | None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "downgrade"), None
    )


@pytest.mark.parametrize("path", sorted(VERSIONS.glob("*.py")), ids=lambda p: p.stem)
def test_every_migration_reverts_or_says_why_not(path: Path) -> None:
    fn = _downgrade(path)
    assert fn is not None, f"{path.name}: no downgrade()"
    doc = ast.get_docstring(fn) or ""
    body = [
        n for n in fn.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
    ]
    does_something = any(not isinstance(n, ast.Pass) for n in body)
    assert does_something or doc.lower().startswith("irreversible:"), (
        f"{path.name}: downgrade() does nothing and its docstring does not say why"
        " (start it with 'Irreversible:')"
    )
