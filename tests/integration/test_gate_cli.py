"""`outreach gate explain|audit` on SQLite and PostgreSQL: once as a real subprocess, the
rest through click's runner in this process (the same command object, a fraction of the
start-up cost)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from conftest import cli_env
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.cli import main
from outreach.db import engine as engine_mod
from outreach.db.models import Customer, EmailBasis
from outreach.gate import consent

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
AT = "2026-01-06T10:00:00+09:00"  # Tuesday 10:00 JST
OUTREACH = str(Path(sys.executable).with_name("outreach"))
REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run(db_url: str, tmp_path: Path, *args: str, **env: str) -> Ran:
    """The `outreach` command in-process; must be called outside a running event loop."""
    environ = cli_env(db_url, tmp_path / "data", **env)
    unset: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith("OUTREACH_") and k not in environ
    }
    r = CliRunner().invoke(main.build(), list(args), env={**environ, **unset})
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return Ran(r.exit_code, r.stdout, r.stderr)


def run_process(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OUTREACH, *args],
        env=cli_env(db_url, tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
    )


def seed(db_url: str) -> tuple[int, int]:
    return asyncio.run(_seed(db_url))


async def _seed(db_url: str) -> tuple[int, int]:
    """One customer with an opt-in email who then opted out of marketing; one plain."""
    engine = engine_mod.make_engine(db_url)
    try:
        async with engine_mod.sessionmaker(engine).begin() as s:
            return await _fill(s)
    finally:
        await engine.dispose()


async def _fill(s: AsyncSession) -> tuple[int, int]:
    await s.execute(
        insert(Customer),
        [
            {
                "external_id": f"C{i}",
                "name_kanji": "髙橋 一郎",
                "email": f"c{i}@example.jp",
                "postal_code": "1000001",
                "address": "東京都千代田区1-1",
                "created_at": T0,
                "updated_at": T0,
            }
            for i in (1, 2)
        ],
    )
    a, b = (await s.execute(select(Customer.id).order_by(Customer.id))).scalars().all()
    await s.execute(
        insert(EmailBasis),
        [
            {
                "customer_id": cid,
                "email": f"c{n}@example.jp",
                "basis": "opt_in",
                "evidence_at": T0,
                "evidence_method": "web_form",
                "evidence_text": "同意します",
                "evidence_ref": "form-12",
            }
            for n, cid in ((1, a), (2, b))
        ],
    )
    changed = await consent.record_event(
        s,
        a,
        action="opt_out",
        scope="category:marketing",
        source="link",
        actor="customer",
        now=T0,
    )
    assert changed
    return a, b


def write_template(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "body.txt"
    p.write_text(body, encoding="utf-8")
    return p


def test_explain_shows_every_reason_and_the_ledger(db_url: str, tmp_path: Path) -> None:
    a, _ = seed(db_url)
    args = ["gate", "explain", "--customer", str(a), "--purpose", "p3", "--channel", "email"]
    r = run_process(db_url, tmp_path, *args, "--at", AT)  # the installed command, for real
    assert r.returncode == 0, r.stderr
    assert "送信不可" in r.stdout and "denied" in r.stdout
    assert "OPTED_OUT" in r.stdout and "配信停止" in r.stdout
    assert "opt_out category:marketing" in r.stdout  # the ledger event behind it
    assert "opt_in" in r.stdout and "form-12" in r.stdout  # the email basis

    j = run(db_url, tmp_path, *args, "--at", AT, "--json")
    assert j.returncode == 0, j.stderr
    data = json.loads(j.stdout)
    assert data["allowed"] is False
    assert [x["code"] for x in data["reasons"]] == ["OPTED_OUT"]
    assert data["reasons"][0]["en"].startswith("An opt-out")
    assert [(e["action"], e["scope"]) for e in data["consent_events"]] == [
        ("opt_out", "category:marketing")
    ]
    assert data["email_bases"][0]["current"] is True


def test_explain_with_a_template_finds_its_items(db_url: str, tmp_path: Path) -> None:
    _, b = seed(db_url)
    ok = write_template(
        tmp_path, "{{ customer.name_kanji }}様 {{ vehicle.car_name }} {{ store.name }}"
    )
    base = ["gate", "explain", "--customer", str(b), "--purpose", "p3", "--channel", "email"]
    r = run(db_url, tmp_path, *base, "--template", str(ok), "--at", AT, "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["allowed"] is True
    assert data["items"] == ["name", "vehicle"]
    assert "customer.name_kanji" in data["fields"]

    policy = write_template(tmp_path, "{{ customer.name_kanji }}様 {{ policy.expires_on }}")
    r = run(db_url, tmp_path, *base, "--template", str(policy), "--at", AT, "--json")
    assert json.loads(r.stdout)["reasons"][0]["code"] == "DATA_ITEM_NOT_ALLOWED"
    # (3) may use the 車検証 data for the dealer's own 車検 service (a reading in purposes.toml)
    shaken = write_template(tmp_path, "{{ customer.name_kanji }}様 {{ vehicle.shaken_expiry_on }}")
    r = run(db_url, tmp_path, *base, "--template", str(shaken), "--at", AT, "--json")
    assert json.loads(r.stdout)["allowed"] is True

    sensitive = write_template(tmp_path, "{{ sensitive.welcab_needs }}")
    r = run(db_url, tmp_path, *base, "--template", str(sensitive), "--at", AT, "--json")
    assert "SENSITIVE_DATA" in [x["code"] for x in json.loads(r.stdout)["reasons"]]

    unknown = write_template(tmp_path, "{{ customer.shoe_size }}")
    r = run(db_url, tmp_path, *base, "--template", str(unknown), "--at", AT)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "shoe_size" in r.stderr
    assert "Traceback" not in r.stderr


def test_audit_counts_allowed_and_each_reason(db_url: str, tmp_path: Path) -> None:
    seed(db_url)
    r = run(
        db_url,
        tmp_path,
        *("gate", "audit", "--purpose", "p3", "--channel", "email", "--at", AT, "--json"),
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["total"], data["allowed"], data["denied"]) == (2, 1, 1)
    assert data["reasons"] == {"OPTED_OUT": 1}

    late = run(
        db_url,
        tmp_path,
        *("gate", "audit", "--purpose", "p3", "--channel", "email"),
        *("--at", "2026-01-06T23:00:00", "--filter", "status=active"),
    )
    assert late.returncode == 0, late.stderr
    assert "延期: 1 人" in late.stdout and "送信時間帯外（延期）" in late.stdout


def test_bad_input_is_one_line_and_exit_code(db_url: str, tmp_path: Path) -> None:
    seed(db_url)
    missing = run(
        db_url,
        tmp_path,
        "gate",
        "explain",
        "--customer",
        "999",
        "--purpose",
        "p3",
        "--channel",
        "post",
    )
    assert missing.returncode == 2 and "no customer with id 999" in missing.stderr
    bad_filter = run(
        db_url, tmp_path, "gate", "audit", "--purpose", "p3", "--channel", "post", "--filter", "x"
    )
    assert bad_filter.returncode == 2 and "--filter" in bad_filter.stderr
    bad_channel = run(db_url, tmp_path, "gate", "audit", "--purpose", "p3", "--channel", "fax")
    assert bad_channel.returncode == 2
    # a broken registry: one line naming file, line and field
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "config", conf)
    text = (conf / "purposes.toml").read_text(encoding="utf-8")
    (conf / "purposes.toml").write_text(
        text.replace('category = "survey"', 'category = "spam"'), encoding="utf-8"
    )
    broken = run(
        db_url,
        tmp_path,
        *("gate", "audit", "--purpose", "p3", "--channel", "post"),
        OUTREACH_CONFIG_DIR=str(conf),
    )
    assert broken.returncode == 2
    lines = broken.stderr.strip().splitlines()
    assert len(lines) == 1 and "purposes.toml:" in lines[0] and "purposes.p4.category" in lines[0]
    for r in (missing, bad_filter, bad_channel, broken):
        assert "Traceback" not in r.stderr


async def _reads(db_url: str, customer_id: int) -> list[tuple[str, str | None]]:
    from outreach.db.models import AuditEntry

    engine = engine_mod.make_engine(db_url)
    try:
        async with engine_mod.sessionmaker(engine)() as s:
            rows = await s.execute(
                select(AuditEntry.actor, AuditEntry.reason).where(
                    AuditEntry.action == "customer.read",
                    AuditEntry.entity_id == str(customer_id),
                )
            )
            return [(a, r) for a, r in rows.all()]
    finally:
        await engine.dispose()


def test_explain_is_an_audited_read_of_personal_data(db_url: str, tmp_path: Path) -> None:
    """R11: `gate explain` shows the customer's ledger, so each run leaves an audit row."""
    a, b = seed(db_url)
    args = ["gate", "explain", "--customer", str(a), "--purpose", "p3", "--channel", "email"]
    r = run_process(db_url, tmp_path, *args, "--at", AT)
    assert r.returncode == 0, r.stderr
    [(actor, reason)] = asyncio.run(_reads(db_url, a))
    assert actor.startswith("cli:") and reason == "gate explain p3/email"
    assert asyncio.run(_reads(db_url, b)) == []


def test_explain_names_the_reading_and_audits_the_read(db_url: str, tmp_path: Path) -> None:
    """R11: explain reads name, email and ledger, so it leaves an audit row; and it names the
    interpretation of the policy that decided the case (here: (8) is per insurer)."""
    _, b = seed(db_url)
    base = ["gate", "explain", "--customer", str(b), "--purpose", "p8", "--channel", "email"]
    j = run(db_url, tmp_path, *base, "--at", AT, "--json")
    assert j.returncode == 0, j.stderr
    data = json.loads(j.stdout)
    assert [x["code"] for x in data["reasons"]] == ["INSURER_NOT_NAMED"]
    ids = [i["id"] for i in data["interpretations"]]
    assert "insurer_partition" in ids and "proposal_email_is_advertising" in ids
    ok = run(db_url, tmp_path, *base, "--insurer", "tokio_marine", "--at", AT)
    assert ok.returncode == 0, ok.stderr
    assert "送信可" in ok.stdout and "販売店の確認待ち" in ok.stdout

    reads = asyncio.run(_reads(db_url, b))
    assert len(reads) == 2 and all(actor.startswith("cli:") for actor, _ in reads)
