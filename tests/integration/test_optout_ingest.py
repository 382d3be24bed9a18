"""`outreach optout ingest --maildir`: mailto unsubscribes, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import mailbox
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

from conftest import cli_env
from sqlalchemy import insert, select

from outreach import bootstrap
from outreach.db.models import ConsentEvent, Customer
from outreach.optout import keys, tokens

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
OUTREACH = str(Path(sys.executable).with_name("outreach"))


def mail(subject: str, to: str = "unsubscribe@mail.example-lexus-dealer.jp") -> bytes:
    m = EmailMessage()
    m["From"] = "customer@example.jp"
    m["To"] = to
    m["Subject"] = subject
    m.set_content("配信停止を希望します。")
    return m.as_bytes()


async def test_ingest_records_and_is_idempotent(
    app: bootstrap.App, db_url: str, tmp_path: Path
) -> None:
    async with app.sessions.begin() as s:
        await s.execute(
            insert(Customer),
            [
                {"external_id": f"C{i}", "name_kanji": "客", "created_at": T0, "updated_at": T0}
                for i in range(3)
            ],
        )
        a, b, c = (await s.execute(select(Customer.id).order_by(Customer.id))).scalars()
    ring = keys.ring(app.settings)

    def tok(cid: int, advertising: bool, scope: str) -> str:
        return tokens.issue(
            ring.key, ring.kid, customer_id=cid, outbox_id=cid * 10, scope=scope,
            category="marketing" if advertising else "service_notice", advertising=advertising,
        )  # fmt: skip

    ta, tb, tc = tok(a, True, "campaign:3"), tok(b, False, "kind:nini"), tok(c, True, "campaign:3")
    box = mailbox.Maildir(tmp_path / "unsub", create=True)
    box.add(mail(f"unsubscribe {ta}"))
    box.add(mail(f"=?utf-8?b?6YWN5L+h5YGc5q2i?= unsubscribe {ta}"))  # a second mail, same token
    box.add(mail("配信停止", to=f"unsubscribe+{tb}@mail.example-lexus-dealer.jp"))
    box.add(mail("配信停止してください"))  # no token
    box.add(mail(f"unsubscribe {tc[:-2]}xy"))  # altered token
    box.add(b"\xff\xfe not a mail at all \x00")

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [OUTREACH, "optout", "ingest", "--maildir", str(tmp_path / "unsub"), "--json"],
            env=cli_env(db_url, tmp_path / "data"),
            capture_output=True,
            text=True,
            timeout=60,
        )

    r = run()
    assert r.returncode == 1, r.stderr  # some mails were rejected: reported, not fatal
    report = json.loads(r.stdout)
    assert (report["messages"], report["opted_out"], report["unchanged"]) == (6, 2, 1)
    assert len(report["rejected"]) == 3
    assert "customer@example.jp" not in r.stdout
    async with app.sessions() as s:
        prefs = {
            row.id: row.opt_outs for row in await s.execute(select(Customer.id, Customer.opt_outs))
        }
        sources = (await s.execute(select(ConsentEvent.source))).scalars().all()
    assert prefs == {a: ["category:marketing"], b: ["kind:nini"], c: []}
    assert sources == ["mailto", "mailto"]

    again = json.loads(run().stdout)
    assert (again["opted_out"], again["unchanged"]) == (0, 3)
    async with app.sessions() as s:
        assert len((await s.execute(select(ConsentEvent.id))).all()) == 2


def test_missing_maildir_is_one_line(tmp_path: Path) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path / "data")
    r = subprocess.run(
        [OUTREACH, "optout", "ingest", "--maildir", str(tmp_path / "nope")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.startswith("error: not a Maildir") and "Traceback" not in r.stderr
