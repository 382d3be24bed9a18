"""`outreach feedback ingest --imap` against a real IMAP server (Dovecot on loopback, STARTTLS,
a verified private certificate), on SQLite and PostgreSQL: reports are recorded once, marked
seen, and a second run reads nothing."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dovecotkit
import pytest
from conftest import cli_env
from feedbackkit import customer, fixture, sent
from sqlalchemy import select

from outreach import bootstrap
from outreach.db.models import Customer, Suppression

OUTREACH = str(Path(sys.executable).with_name("outreach"))


@pytest.fixture
def dovecot() -> Iterator[dovecotkit.Dovecot]:
    why = dovecotkit.available()
    if why:
        pytest.skip(why)
    root = Path(tempfile.mkdtemp(prefix="dv", dir="/tmp"))
    dv = dovecotkit.start(root)
    try:
        yield dv
    finally:
        dv.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_ingest_from_imap(
    app: bootstrap.App, db_url: str, tmp_path: Path, dovecot: dovecotkit.Dovecot
) -> None:
    yahoo = await customer(app, "kenji.tanaka@yahoo.com")
    await sent(app, yahoo, "<71.d00df00dcafe0001@mail.example-lexus-dealer.jp>")
    dovecot.deliver("1", fixture("dsn_gmail.eml"))
    dovecot.deliver("2", fixture("arf_yahoo_cfl.eml"))
    env = cli_env(db_url, tmp_path / "data", OUTREACH_FEEDBACK_IMAP_URL=dovecot.url)

    def run() -> dict[str, object]:
        r = subprocess.run(
            [OUTREACH, "feedback", "ingest", "--imap", "--json"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert "secret" not in r.stdout + r.stderr
        out: dict[str, object] = json.loads(r.stdout)
        return out

    first = await asyncio.to_thread(run)
    assert first["messages"] == 2
    assert first["outcomes"] == {"suppressed": 1, "opted_out": 1}
    again = await asyncio.to_thread(run)  # both were marked \Seen
    assert again["messages"] == 0
    async with app.sessions() as s:
        assert await s.scalar(select(Suppression.reason)) == "hard_bounce"
        c = await s.get(Customer, yahoo)
        assert c is not None and "category:marketing" in c.opt_outs
    wrong = dovecot.url.replace("secret", "wrong")
    bad = await asyncio.to_thread(
        subprocess.run,
        [OUTREACH, "feedback", "ingest", "--imap"],
        env=cli_env(db_url, tmp_path / "data", OUTREACH_FEEDBACK_IMAP_URL=wrong),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "wrong" not in bad.stderr
