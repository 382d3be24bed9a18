"""Every CLI error path is one line on stderr and the documented exit code, never a
traceback: unknown command or option, bad date, missing file, unreachable or uninitialised
database, unsupported database URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

OUTREACH = str(Path(sys.executable).parent / "outreach")


def _run(tmp_path: Path, *args: str, db: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env["OUTREACH_DATA_DIR"] = str(tmp_path / "data")
    if db is not None:
        env["OUTREACH_DATABASE_URL"] = db
    return subprocess.run(
        [OUTREACH, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("args", "db", "says"),
    [
        (("no-such-command",), None, "No such command"),
        (("init", "--bogus"), None, "No such option"),
        (("run-daily", "--date", "2026-02-30"), None, "--date"),
        (("import", "customers", "missing.csv"), None, "missing.csv"),
        (("init",), "postgresql://nobody@127.0.0.1:1/nodb", "database unavailable"),
        (("runs",), "sqlite:///{tmp}/never-initialised.sqlite3", "outreach init"),
        (("init",), "mysql://x@localhost/db", "unsupported database"),
        (("customer", "show", "C404"), "sqlite:///{tmp}/empty.sqlite3", "error:"),
    ],
)
def test_error_is_one_line_with_exit_code_2(
    tmp_path: Path, args: tuple[str, ...], db: str | None, says: str
) -> None:
    r = _run(tmp_path, *args, db=db.format(tmp=tmp_path) if db else None)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert says in lines[0], lines[0]
    assert "Traceback" not in r.stderr
