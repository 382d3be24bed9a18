"""`outreach backup` → `outreach restore` elsewhere → `consent verify` clean → the worker
resumes where the backup left off and sends nothing twice. On SQLite (the online backup API)
and PostgreSQL (pg_dump / pg_restore)."""

from __future__ import annotations

import datetime as dt
import json
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import _pg_admin, _pg_url, cli_env
from opskit import capture, fingerprint, lived_in, message_ids

from outreach import bootstrap, pipeline
from outreach.clock import FixedClock
from outreach.send import service

OUTREACH = str(Path(sys.executable).with_name("outreach"))


def outreach(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OUTREACH, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def elsewhere(db_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same engine to restore into."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'outreach.sqlite3'}"
        return
    name = f"outreach_r_{uuid.uuid4().hex[:12]}"
    _pg_admin(f"CREATE DATABASE {name}")
    yield _pg_url(name)
    _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_backup_restore_elsewhere_verify_and_resume_without_duplicates(
    app: bootstrap.App, db_url: str, elsewhere: str, tmp_path: Path
) -> None:
    first = tmp_path / "capture-before"
    setup = await lived_in(app, first)
    assert setup["campaign"]["queued"] > 0 and setup["first_batch"]["sent"] > 0
    before = await fingerprint(app)
    assert before["campaigns"] == ["running"] and before["outbox"]["queued"] > 0

    backup_file = tmp_path / "backups" / ("b.sqlite3" if db_url.startswith("sqlite") else "b.dump")
    src_env = cli_env(db_url, tmp_path / "data")
    r = outreach(src_env, "backup", "--to", str(backup_file), "--json")  # while `app` is open
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["file"] == str(backup_file)
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600  # every customer's data in it
    again = outreach(src_env, "backup", "--to", str(backup_file))
    assert again.returncode == 2 and "already exists" in again.stderr  # never overwritten

    dst_env = cli_env(elsewhere, tmp_path / "data2")
    r = outreach(dst_env, "restore", str(backup_file))
    assert r.returncode == 0, r.stderr
    r = outreach(dst_env, "restore", str(backup_file))
    assert r.returncode == 2 and "--force" in r.stderr  # a second restore does not clobber
    r = outreach(dst_env, "db", "upgrade")
    assert r.returncode == 0, r.stderr
    r = outreach(dst_env, "consent", "verify", "--json")
    assert r.returncode == 0, r.stdout + r.stderr

    # The restored copy holds what the original held…
    later = FixedClock(app.clock.now() + dt.timedelta(hours=1))
    restored = bootstrap.build(
        app.settings.model_copy(update={"database_url": elsewhere}), clock=later
    )
    try:
        assert await fingerprint(restored) == before
        # …and its worker sends the rest, once each.
        second = tmp_path / "capture-after"
        w = service.build_worker(restored, transport=capture(second))
        try:
            report = await pipeline.drain(w, once=True)
        finally:
            await w.transport.close()
        after = await fingerprint(restored)
    finally:
        await restored.close()
    sent_before, sent_after = message_ids(first), message_ids(second)
    assert sent_after, report
    assert not set(sent_before) & set(sent_after)  # nothing sent before is sent again
    assert len(set(sent_after)) == len(sent_after)
    assert after["outbox"].get("sent", 0) == len(sent_before) + len(sent_after)
    assert (
        after["outbox"].get("queued", 0) + after["outbox"].get("sending", 0)
        < before["outbox"]["queued"]
    )
