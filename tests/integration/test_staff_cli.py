"""`outreach user add` and `outreach campaign …` as real subprocesses on both databases:
documented exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import cli_env

OUTREACH = str(Path(sys.executable).with_name("outreach"))
PASSWORD = "correct horse battery"

GOOD = """
name = "新型RX発表会のご案内"
purpose = "p3"
channels = ["email"]
schedule_at = 2026-02-01T10:00:00
rate_per_second = 20
subject_template = "{{ customer.name_kanji }}様 新型RX発表会"
text_template = '''
{{ customer.name_kanji }}様
新型RXの発表会を開催します。
{% include "_base/footer.txt" %}
'''

[[audience]]
field = "vehicle.car_name"
op = "eq"
value = "RX"
"""

SENSITIVE = GOOD.replace('field = "vehicle.car_name"', 'field = "sensitive.welcab_needs"')


def run(
    db_url: str, tmp_path: Path, *args: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    extra = {"OUTREACH_NEW_PASSWORD": password} if password else {}
    return subprocess.run(
        [OUTREACH, *args],
        env=cli_env(db_url, tmp_path / "data", **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line_error(r: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert needle in lines[0], lines[0]
    assert "Traceback" not in r.stderr


def test_users_and_the_campaign_lifecycle_from_the_cli(db_url: str, tmp_path: Path) -> None:
    for user, role in (("mika", "marketer"), ("aoi", "approver")):
        r = run(
            db_url, tmp_path, "user", "add", "--username", user, "--role", role, password=PASSWORD
        )
        assert r.returncode == 0, r.stderr
    r = run(
        db_url, tmp_path, "user", "add", "--username", "mika", "--role", "admin", password=PASSWORD
    )
    one_line_error(r, 1, "既に存在")
    r = run(
        db_url, tmp_path, "user", "add", "--username", "x1", "--role", "admin", password="short"
    )
    one_line_error(r, 1, "password")

    good = tmp_path / "campaign.toml"
    good.write_text(GOOD, encoding="utf-8")
    r = run(db_url, tmp_path, "campaign", "create", "--file", str(good), "--as", "mika", "--json")
    assert r.returncode == 0, r.stderr
    created = json.loads(r.stdout)
    assert (created["status"], created["version"], created["created_by"]) == ("draft", 1, "mika")
    cid = str(created["id"])

    bad = tmp_path / "sensitive.toml"
    bad.write_text(SENSITIVE, encoding="utf-8")
    r = run(db_url, tmp_path, "campaign", "create", "--file", str(bad), "--as", "mika")
    one_line_error(r, 1, "要配慮個人情報")
    r = run(
        db_url, tmp_path, "campaign", "create", "--file", str(tmp_path / "no.toml"), "--as", "mika"
    )
    one_line_error(r, 2, "not found")
    broken = tmp_path / "broken.toml"
    broken.write_text("name = ", encoding="utf-8")
    r = run(db_url, tmp_path, "campaign", "create", "--file", str(broken), "--as", "mika")
    one_line_error(r, 2, "broken.toml")

    r = run(db_url, tmp_path, "campaign", "approve", cid, "--version", "1", "--as", "mika")
    one_line_error(r, 1, "権限")
    r = run(db_url, tmp_path, "campaign", "approve", cid, "--version", "1", "--as", "nobody")
    one_line_error(r, 1, "nobody")
    r = run(db_url, tmp_path, "campaign", "approve", cid, "--version", "1", "--as", "aoi", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["approved_by"] == "aoi"

    r = run(db_url, tmp_path, "campaign", "preview", cid, "--as", "aoi", "--json")
    assert r.returncode == 0, r.stderr
    [email] = json.loads(r.stdout)["channels"]
    assert (email["channel"], email["audience"], email["allowed"]) == ("email", 0, 0)
    r = run(db_url, tmp_path, "campaign", "preview", cid, "--as", "mika")  # a marketer may
    assert r.returncode == 0 and "電子メール: 対象 0 人" in r.stdout, r.stderr

    r = run(db_url, tmp_path, "campaign", "list", "--json")
    assert [c["status"] for c in json.loads(r.stdout)] == ["approved"]
    r = run(db_url, tmp_path, "campaign", "show", "999")
    one_line_error(r, 2, "999")
