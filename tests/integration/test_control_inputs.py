"""Control characters never reach the database, on both databases: the correction form
refuses them (and any value its import validator refuses) with nothing written, and the CLI
refuses them in a free-text option with one line and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env
from sqlalchemy import func, select
from staffkit import seed_customers

from outreach import bootstrap
from outreach.db.models import AuditEntry, Customer, DataRequest
from outreach.staff import customers
from outreach.staff.errors import Invalid

OUTREACH = str(Path(sys.executable).with_name("outreach"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "x@example.jp\r\nBcc: everyone@example.jp"),
        ("phone", "<script>alert(1)</script>"),
        ("name_kanji", "山田\u2028太郎"),
    ],
)
async def test_a_refused_correction_writes_nothing(
    app: bootstrap.App, field: str, value: str
) -> None:
    ids = await seed_customers(app)
    async with app.sessions() as s:
        before = getattr(await s.get(Customer, ids["C1"]), field)
    with pytest.raises(Invalid) as e:
        async with app.sessions() as s, s.begin():
            await customers.correct(
                s, ids["C1"], field=field, value=value, reason="電話で依頼", actor="aoi",
                now=app.clock.now(),
            )  # fmt: skip
    assert [p.field for p in e.value.problems] == ["value"]
    async with app.sessions() as s:
        assert getattr(await s.get(Customer, ids["C1"]), field) == before
        assert await s.scalar(select(func.count()).select_from(DataRequest)) == 0
        n = await s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.entity == "customer")
        )
        assert n == 0


async def test_a_reason_may_hold_line_breaks_but_no_escape(app: bootstrap.App) -> None:
    ids = await seed_customers(app)
    async with app.sessions() as s, s.begin():
        r = await customers.correct(
            s, ids["C1"], field="phone", value="090-1234-5678", reason="本人より電話\n免許証で確認",
            actor="aoi", now=app.clock.now(),
        )  # fmt: skip
    assert r.after == {"phone": "090-1234-5678"}
    with pytest.raises(Invalid):
        async with app.sessions() as s, s.begin():
            await customers.correct(
                s, ids["C1"], field="phone", value="090-1234-5679", reason="確認\x1b[2J",
                actor="aoi", now=app.clock.now(),
            )  # fmt: skip


def test_the_cli_refuses_a_control_character_in_a_note(db_url: str, tmp_path: Path) -> None:
    r = subprocess.run(
        [OUTREACH, "consent", "record", "--customer", "1", "--action", "opt_out", "--scope",
         "all", "--source", "phone", "--actor", "aoi", "--note", "電話\r\nで受付"],
        env=cli_env(db_url, tmp_path / "data"), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "制御文字" in r.stderr
