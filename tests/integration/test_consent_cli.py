"""`outreach consent verify|record` as a real subprocess, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from conftest import cli_env
from sqlalchemy import insert, select, update

from outreach import bootstrap
from outreach.db.models import ConsentEvent, Customer, DataRequest

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
OUTREACH = str(Path(sys.executable).with_name("outreach"))


def run(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OUTREACH, *args],
        env=cli_env(db_url, tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def seed(app: bootstrap.App) -> int:
    async with app.sessions.begin() as s:
        await s.execute(
            insert(Customer),
            [{"external_id": "C1", "name_kanji": "山﨑 花子", "created_at": T0, "updated_at": T0}],
        )
        return int((await s.execute(select(Customer.id))).scalar_one())


async def test_record_then_verify(app: bootstrap.App, db_url: str, tmp_path: Path) -> None:
    cid = await seed(app)
    args = ["consent", "record", "--customer", str(cid), "--action", "cessation"]
    args += ["--scope", "all", "--source", "phone", "--actor", "yamada", "--note", "電話で依頼"]
    r = run(db_url, tmp_path, *args)
    assert r.returncode == 0, r.stderr
    assert "記録しました" in r.stdout
    again = run(db_url, tmp_path, *args)
    assert again.returncode == 0 and "変更なし" in again.stdout
    async with app.sessions() as s:
        c = await s.get(Customer, cid)
        assert c is not None and c.use_suspended
        evs = (await s.execute(select(ConsentEvent))).scalars().all()
        assert [(e.action, e.scope, e.source, e.actor) for e in evs] == [
            ("cessation", "all", "phone", "staff:yamada")
        ]
        assert evs[0].evidence == {"taken_by": "yamada", "note": "電話で依頼"}
        reqs = (await s.execute(select(DataRequest))).scalars().all()
        assert [(q.kind, q.received_by) for q in reqs] == [("cessation", "yamada")]

    ok = run(db_url, tmp_path, "consent", "verify", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"ok": True, "problems": []}


async def test_verify_reports_problems_and_exits_1(
    app: bootstrap.App, db_url: str, tmp_path: Path
) -> None:
    cid = await seed(app)
    args = ["consent", "record", "--customer", str(cid), "--action", "opt_out"]
    assert run(db_url, tmp_path, *args, "--scope", "kind:shaken", "--source", "store",
               "--actor", "sato").returncode == 0  # fmt: skip
    async with app.sessions.begin() as s:
        await s.execute(update(ConsentEvent).values(actor="staff:someone_else"))
    r = run(db_url, tmp_path, "consent", "verify")
    assert r.returncode == 1
    assert f"顧客 {cid}（1 件目の記録）: 記録が書き換えられています" in r.stdout
    j = run(db_url, tmp_path, "consent", "verify", "--json")
    assert j.returncode == 1
    assert json.loads(j.stdout)["problems"][0]["code"] == "hash_mismatch"


async def test_bad_input_is_one_line(app: bootstrap.App, db_url: str, tmp_path: Path) -> None:
    cid = await seed(app)
    base = ["consent", "record", "--action", "opt_out", "--source", "phone", "--actor", "x"]
    r = run(db_url, tmp_path, *base, "--customer", str(cid), "--scope", "no spaces allowed")
    assert r.returncode == 1
    assert r.stderr.startswith("error: invalid consent scope") and "Traceback" not in r.stderr
    r = run(db_url, tmp_path, *base, "--customer", str(cid + 100), "--scope", "all")
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr
    r = run(db_url, tmp_path, *base[:2], "--customer", str(cid), "--scope", "all")
    assert r.returncode == 2  # usage: missing options


async def test_a_request_recorded_from_the_cli_is_filed_as_the_console_files_it(
    app: bootstrap.App, db_url: str, tmp_path: Path
) -> None:
    """`consent record` takes an opt-out or a cessation as the console does: the audit row,
    and for a cessation the Art. 35 request with its task to notify the decision."""
    from outreach.db.models import AuditEntry

    cid = await seed(app)
    for action in ("opt_out", "cessation", "grant"):
        args = ["consent", "record", "--customer", str(cid), "--action", action]
        args += ["--scope", "all" if action != "grant" else "category:marketing"]
        args += ["--source", "phone", "--actor", "yamada"]
        if action == "grant":
            args += ["--legal-basis", "opt_in"]
        r = run(db_url, tmp_path, *args)
        assert r.returncode == 0, r.stderr
    async with app.sessions() as s:
        audits = (await s.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars().all()
        reqs = (await s.execute(select(DataRequest))).scalars().all()
    actions = [(a.action, a.actor) for a in audits if a.entity == "customer"]
    assert actions == [
        ("customer.opt_out", "yamada"),
        ("customer.cessation", "yamada"),
        ("consent.grant", "yamada"),
    ]
    assert [q.kind for q in reqs] == ["cessation"]
