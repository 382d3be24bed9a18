"""The new commands through the real CLI on both databases: documented exit codes, one line
on stderr, --json output (export joint-use, provisions, policy, incident, retention,
compliance)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from pathlib import Path

from click.testing import CliRunner
from conftest import cli_env
from sqlalchemy import insert

from outreach.cli import main
from outreach.db import engine as engine_mod
from outreach.db.models import Customer

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def run(db_url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    environ = cli_env(db_url, tmp_path / "data")
    unset = {k: None for k in os.environ if k.startswith("OUTREACH_") and k not in environ}
    r = CliRunner().invoke(main.build(), list(args), env={**environ, **unset})
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def seed(db_url: str) -> None:
    async def go() -> None:
        engine = engine_mod.make_engine(db_url)
        try:
            async with engine_mod.sessionmaker(engine).begin() as s:
                await s.execute(
                    insert(Customer),
                    [
                        {
                            "external_id": f"C{i}",
                            "name_kanji": "髙橋 一郎",
                            "postal_code": "1000001",
                            "address": "東京都千代田区1-1",
                            "notice_version": 2,
                            "acquisition_source": "lexus_tokyo" if i == 1 else None,
                            "created_at": T0,
                            "updated_at": T0,
                        }
                        for i in (1, 2)
                    ],
                )
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_new_commands_answer_with_the_documented_codes(db_url: str, tmp_path: Path) -> None:
    seed(db_url)
    out = tmp_path / "lt.csv"
    code, stdout, _ = run(db_url, tmp_path, "export", "joint-use", "--to", "lexus_tokyo",
                          "--out", str(out), "--json")  # fmt: skip
    assert code == 0 and json.loads(stdout)["customers"] == 1 and out.exists()
    code, _, err = run(db_url, tmp_path, "export", "joint-use", "--to", "nobody")
    assert code == 2 and err.startswith("error: ") and "nobody" in err and "Traceback" not in err

    code, stdout, _ = run(db_url, tmp_path, "provisions", "--json")
    rows = json.loads(stdout)
    assert code == 0 and len(rows) == 1 and rows[0]["区分"] == "提供"

    code, stdout, _ = run(db_url, tmp_path, "policy", "render")
    assert code == 0 and "共同利用" in stdout and "(8) 保険代理店として" in stdout
    code, stdout, _ = run(db_url, tmp_path, "policy", "notify-list", "--json")
    assert code == 0 and json.loads(stdout)["customers"] == []

    code, stdout, _ = run(db_url, tmp_path, "incident", "record", "--title", "誤送付",
                          "--customer", "1", "--class", "financial", "--json")  # fmt: skip
    d = json.loads(stdout)
    assert code == 0 and d["reportable"] and d["final_due_on"]
    code, _, err = run(db_url, tmp_path, "incident", "record", "--title", "x", "--customer", "99")
    assert code == 1 and err.startswith("error: ")
    code, _, err = run(db_url, tmp_path, "incident", "show", "42")
    assert code == 2 and "42" in err

    code, stdout, _ = run(db_url, tmp_path, "retention", "--dry-run", "--json")
    assert code == 0 and json.loads(stdout)["dry_run"] is True

    code, stdout, _ = run(db_url, tmp_path, "compliance", "report", "--month", "2026-01", "--json")
    assert code == 0 and json.loads(stdout)["title"].startswith("2026年1月")
    code, _, err = run(db_url, tmp_path, "compliance", "report", "--month", "January")
    assert code == 2 and "--month" in err
