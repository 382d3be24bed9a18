"""`outreach worker` and `outreach outbox` as real subprocesses against a real SMTP server,
with the template composer (sandboxed render, MIME writer, signed opt-out links)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import sendkit
from conftest import cli_env
from sqlalchemy import select

from outreach import outbox
from outreach.db import engine as engine_mod
from outreach.db.models import OutboxMessage
from outreach.optout import tokens

OUTREACH = str(Path(sys.executable).with_name("outreach"))


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OUTREACH, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def seed(db_url: str, n: int) -> None:
    eng = engine_mod.make_engine(db_url)
    try:
        async with engine_mod.sessionmaker(eng)() as s, s.begin():
            ids = await sendkit.add_customers(s, n)
            await outbox.enqueue(s, [(sendkit.draft(c), sendkit.permit(c)) for c in ids])
    finally:
        await eng.dispose()


async def outbox_rows(db_url: str) -> list[OutboxMessage]:
    eng = engine_mod.make_engine(db_url)
    try:
        async with engine_mod.sessionmaker(eng)() as s:
            return list(
                (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars()
            )
    finally:
        await eng.dispose()


def test_worker_once_sends_rendered_mail_and_outbox_counts(db_url: str, tmp_path: Path) -> None:
    asyncio.run(seed(db_url, 4))
    templates = sendkit.write_templates(tmp_path / "templates")
    with sendkit.SmtpServer() as server:
        env = cli_env(
            db_url,
            tmp_path / "data",
            OUTREACH_TRANSPORT="smtp",
            OUTREACH_SMTP_URL=server.url,
            OUTREACH_TEMPLATES_DIR=templates,
            OUTREACH_BASE_URL="https://outreach.example.jp",
            OUTREACH_CONFIG_DIR=sendkit.all_day_config(tmp_path / "config"),
        )
        before = run(["outbox", "--json"], env)
        done = run(["worker", "--once", "--json", "--concurrency", "2"], env)
        after = run(["outbox", "--status", "sent", "--status", "queued"], env)
    assert json.loads(before.stdout)["queued"] == 4
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary.pop("crash_window_ms") >= 0
    assert summary == {"claimed": 4, "sent": 4}
    assert after.returncode == 0
    assert [line.split()[:2] for line in after.stdout.splitlines()] == [
        ["送信済み", "4"],
        ["送信待ち", "0"],
    ]
    assert len(server.received) == 4
    rows = {r.message_id: r for r in asyncio.run(outbox_rows(db_url))}
    for mail in server.received:
        parsed = mail.parsed()
        row = rows[parsed["Message-ID"]]
        name = f"髙橋 太郎{row.customer_id}"
        assert parsed["Subject"] == f"【車検のご案内】{name}様"
        assert name in parsed["To"]
        body = parsed.get_body(("plain",))
        assert body is not None and "ジャミール商事株式会社" in body.get_content()
        html = parsed.get_body(("html",))
        assert html is not None and "&lt;車検&gt;" in html.get_content()
        unsub = parsed["List-Unsubscribe"]
        token = unsub.split("/u/")[1].split(">")[0]
        claims = tokens.verify({k: v for k, v in _ring(tmp_path).items()}, token)
        assert (claims.customer_id, claims.outbox_id, claims.scope) == (
            row.customer_id,
            row.id,
            "kind:shaken",
        )
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert row.template_hash and len(row.template_hash) == 64
        assert row.template_version == "test_notice@v3"


def _ring(tmp_path: Path) -> dict[str, bytes]:
    from outreach import settings
    from outreach.optout import keys

    s = settings.Settings(
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-not-for-production",
    )
    return keys.ring(s).verify


def test_worker_config_errors_are_one_line_exit_2(db_url: str, tmp_path: Path) -> None:
    env = cli_env(db_url, tmp_path / "data", OUTREACH_TRANSPORT="smtp")
    r = run(["worker", "--once"], env)
    assert r.returncode == 2
    assert r.stderr.strip() == "error: transport is smtp but OUTREACH_SMTP_URL is not set"
    env = cli_env(
        db_url, tmp_path / "data", OUTREACH_TRANSPORT="smtp", OUTREACH_SMTP_URL="http://x"
    )
    r = run(["worker", "--once"], env)
    assert r.returncode == 2 and r.stderr.startswith("error: invalid SMTP URL")
    assert "Traceback" not in r.stderr
    r = run(["worker", "--batch", "0"], env)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_worker_runs_until_sigterm_and_exits_cleanly(db_url: str, tmp_path: Path) -> None:
    asyncio.run(seed(db_url, 3))
    env = cli_env(
        db_url,
        tmp_path / "data",
        OUTREACH_TEMPLATES_DIR=sendkit.write_templates(tmp_path / "templates"),
        OUTREACH_CONFIG_DIR=sendkit.all_day_config(tmp_path / "config"),
        OUTREACH_TRANSPORT="file",
    )
    proc = subprocess.Popen(
        [OUTREACH, "worker", "--json", "--idle", "0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    folder = tmp_path / "data" / "outbox-files"
    while len(list(folder.glob("*.eml"))) < 3 and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert json.loads(out)["sent"] == 3
    assert len(list(folder.glob("*.eml"))) == 3
