"""`outreach templates check|preview` as the real command in a subprocess."""

from __future__ import annotations

import email.policy
import json
import os
import shutil
import subprocess
import sys
from email.parser import BytesParser
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUTREACH = str(Path(sys.executable).with_name("outreach"))


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    base.update(
        {
            "OUTREACH_DATA_DIR": str(tmp_path / "data"),
            "OUTREACH_CONFIG_DIR": str(REPO / "config"),
            "OUTREACH_BASE_URL": "https://dealer.example.jp",
            "OUTREACH_DEALER_FILE": str(REPO / "config" / "dealer.demo.toml"),
            **env,
        }
    )
    return subprocess.run([OUTREACH, *args], env=base, capture_output=True, timeout=60)


def test_check_lists_every_template_with_its_items(tmp_path: Path) -> None:
    proc = run(tmp_path, "templates", "check", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["reminder_shaken_2"]["advertising"] is True
    assert "birth_date" not in rows["reminder_shaken_2"]["channels"]["email"]
    assert set(rows["reminder_nini_1"]["channels"]) == {"email", "post", "phone"}
    assert rows["campaign_winter_tires"]["stream"] == "campaign"


def test_check_refuses_the_placeholders_of_the_real_dealer_file(tmp_path: Path) -> None:
    """The go-live guard: the shipped dealer.toml still has 〒000-0000 and 送信開始前に記入."""
    proc = run(
        tmp_path, "templates", "check", OUTREACH_DEALER_FILE=str(REPO / "config" / "dealer.toml")
    )
    assert proc.returncode == 2 and proc.stdout == b""
    err = proc.stderr.decode()
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "dealer.toml" in err and "dealer.postal_code" in err and "〒000-0000" in err
    assert "Traceback" not in err


def test_check_refuses_a_broken_template_in_one_clear_message(tmp_path: Path) -> None:
    templates_dir = tmp_path / "templates"
    shutil.copytree(REPO / "templates" / "mail", templates_dir / "mail")
    body = templates_dir / "mail" / "campaign_winter_tires" / "body.txt"
    body.write_text(body.read_text(encoding="utf-8") + "{{ policy.insurer }}\n")
    proc = run(tmp_path, "templates", "check", OUTREACH_TEMPLATES_DIR=str(templates_dir))
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.startswith("error: ")
    assert "campaign_winter_tires" in err and "body.txt" in err and "policy.insurer" in err
    assert "Traceback" not in err and proc.stdout == b""


def test_preview_eml_is_a_complete_one_click_message(tmp_path: Path) -> None:
    proc = run(tmp_path, "templates", "preview", "reminder_shaken_2", "--eml")
    assert proc.returncode == 0, proc.stderr
    msg = BytesParser(policy=email.policy.default).parsebytes(proc.stdout)
    assert msg.defects == []
    assert msg["To"].addresses[0].display_name == "髙橋 花子"
    assert str(msg["List-Unsubscribe"]) == "<https://dealer.example.jp/u/SAMPLE-TOKEN>"
    assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert str(msg["List-Id"]).endswith("<reminder.mail.example-lexus-dealer.jp>")
    plain = msg.get_body(("plain",))
    assert plain is not None and "03-5945-0121" in plain.get_content()


def test_preview_post_and_unknown(tmp_path: Path) -> None:
    post = run(tmp_path, "templates", "preview", "reminder_shaken_1", "--channel", "post")
    assert post.returncode == 0 and "髙橋 花子 様" in post.stdout.decode()
    unknown = run(tmp_path, "templates", "preview", "nope")
    assert unknown.returncode == 2 and unknown.stderr.startswith(b"error: ")


def test_the_worker_does_not_start_while_the_dealer_file_holds_placeholders(
    tmp_path: Path,
) -> None:
    proc = run(
        tmp_path,
        "worker",
        "--once",
        OUTREACH_DEALER_FILE=str(REPO / "config" / "dealer.toml"),
        OUTREACH_DATABASE_URL=f"sqlite:///{tmp_path / 'none.sqlite3'}",
    )
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.decode()
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "outbox worker not started" in err and "dealer.toml" in err
    assert "dealer.postal_code" in err
