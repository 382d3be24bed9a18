"""`outreach import`, `outreach customer show` and `outreach demo-data` as real subprocesses:
exit codes, one-line errors, the error report, --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import cli_env
from test_import import BAD_CUSTOMERS, CUSTOMER_HEADER, GOOD_CUSTOMERS, customers_file, write

OUTREACH = str(Path(sys.executable).with_name("outreach"))


def run(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OUTREACH, *args],
        env=cli_env(db_url, tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def test_partial_import_exits_1_with_a_report_and_rerun_is_a_no_op(
    db_url: str, tmp_path: Path
) -> None:
    good = [g.replace(",S01,", ",,") for g in GOOD_CUSTOMERS]  # no stores in this database
    path = customers_file(tmp_path, good)
    r = run(db_url, tmp_path, "import", "customers", str(path), "--json")
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    data = json.loads(r.stdout)
    assert (data["inserted"], data["rejected"], data["encoding"]) == (4, 5, "cp932")
    assert "却下 5 行" in r.stderr
    for line in BAD_CUSTOMERS:
        assert f"{line}行目" in r.stderr
    assert "6行目 生年月日: 'H31.5.1' は平成の期間外です" in r.stderr  # a bad date, and why
    report = Path(data["error_report"])
    assert report.parent == tmp_path / "data" / "import-errors"  # the data folder, not the input's
    assert report.name.startswith("c.csv.") and report.name.endswith(".errors.csv")
    assert report.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "c.csv.errors.csv").exists()
    rows = report.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0] == "行,列,理由" and len(rows) == 6

    again = run(db_url, tmp_path, "import", "customers", str(path), "--json", "--errors", "r2.csv")
    assert again.returncode == 1
    d2 = json.loads(again.stdout)
    assert (d2["inserted"], d2["updated"], d2["unchanged"]) == (0, 0, 4)
    assert (tmp_path / "r2.csv").exists()

    shown = run(db_url, tmp_path, "customer", "show", "K001", "--json")
    assert shown.returncode == 0, shown.stderr
    c = json.loads(shown.stdout)
    assert c["customer"]["name_kanji"] == "髙橋 一郎"
    assert c["email_bases"][0]["basis"] == "opt_in"
    human = run(db_url, tmp_path, "customer", "show", str(c["customer"]["id"]))
    assert human.returncode == 0 and "氏名: 髙橋 一郎 (タカハシ イチロウ)" in human.stdout
    assert "生年月日: 1970年3月1日" in human.stdout
    missing = run(db_url, tmp_path, "customer", "show", "NOPE-1")
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        == "error: customer 'NOPE-1' not found (neither external nor internal id)"
    )


def test_clean_file_exits_0(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "ok.csv", [CUSTOMER_HEADER, GOOD_CUSTOMERS[1]], encoding="utf-8")
    r = run(db_url, tmp_path, "import", "customers", str(path), "--encoding", "utf-8")
    assert r.returncode == 0, r.stderr
    assert "新規 1 件" in r.stderr
    assert not (tmp_path / "ok.csv.errors.csv").exists()
    assert not (tmp_path / "data" / "import-errors").exists()


def test_the_report_follows_no_planted_symlink(db_url: str, tmp_path: Path) -> None:
    victim = tmp_path / "victim.conf"
    victim.write_text("system file\n")
    path = customers_file(tmp_path, [g.replace(",S01,", ",,") for g in GOOD_CUSTOMERS])
    (tmp_path / "c.csv.errors.csv").symlink_to(victim)  # the old default place, planted
    r = run(db_url, tmp_path, "import", "customers", str(path), "--json")
    assert r.returncode == 1
    assert victim.read_text() == "system file\n"
    assert Path(json.loads(r.stdout)["error_report"]).parent == tmp_path / "data" / "import-errors"
    explicit = run(
        db_url, tmp_path, "import", "customers", str(path), "--errors", "c.csv.errors.csv"
    )
    assert explicit.returncode == 1 and "Traceback" not in explicit.stderr
    assert "cannot write the error report" in explicit.stderr
    assert victim.read_text() == "system file\n"


def test_usage_errors_exit_2_in_one_line(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"  # usage is checked before the database
    cases = [
        ("import", "customers", str(tmp_path / "missing.csv")),
        ("import", "cars", str(tmp_path / "missing.csv")),
        ("import", "customers", str(tmp_path)),
        ("demo-data", "--customers", "10", "--today", "R7.2.30"),
    ]
    for args in cases:
        r = run(db_url, tmp_path, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert r.stderr.startswith("error:"), (args, r.stderr)


def test_demo_data_cli(db_url: str, tmp_path: Path) -> None:
    r = run(
        db_url,
        tmp_path,
        "demo-data",
        "--customers",
        "200",
        "--seed",
        "3",
        "--today",
        "2026-01-05",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["rows"]["customers"] == 200 and data["rows"]["vehicles"] > 150
    assert (data["seed"], data["today"]) == (3, "2026-01-05")
