"""`outreach demo` on an empty data folder, as the README's first command runs it: the
embedded SQLite default, no OUTREACH_DATABASE_URL, no secret configured."""

from __future__ import annotations

import email
import email.policy
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

OUTREACH = str(Path(sys.executable).parent / "outreach")


# A Thursday: most demo stores close on Tuesdays or Wednesdays, and a reminder mail waits for
# the store's next open day (config/gate.toml).
def _demo(data_dir: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env["OUTREACH_DATA_DIR"] = str(data_dir)
    proc = subprocess.run(
        [OUTREACH, "demo", "--customers", "400", "--date", "2026-01-08", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def test_demo_runs_the_day_end_to_end_and_a_second_run_adds_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = _demo(data)
    assert (data / "outreach.sqlite3").exists()
    key = data / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert first["date"] == "2026-01-08" and first["closed_today"] is None  # the day asked for
    run = first["run"]
    assert isinstance(run, dict) and run["candidates"] > 0 and run["queued"] > 0
    delivery = first["delivery"]
    assert isinstance(delivery, dict) and delivery.get("sent", 0) > 0
    emls = sorted(Path(str(first["capture_dir"])).glob("*.eml"))
    assert len(emls) == delivery["sent"]
    for path in emls:  # real MIME messages that parse back with a Japanese subject
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert msg["Message-ID"] and msg["List-Unsubscribe"] and msg["List-Id"]
        assert any("\u3040" <= ch <= "\u9fff" for ch in str(msg["Subject"]))
        assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None

    # The day's call list (a month before 車検 the store calls) and the console page of each.
    calls = first["calls"]
    assert isinstance(calls, dict) and calls["date"] == "2026-01-08" and calls["count"] >= 1
    assert (data / "calls" / "2026-01-08.csv").is_file()
    console = first["console"]
    assert isinstance(console, dict)
    assert console["calls"] == "http://127.0.0.1:8000/staff/calls?day=2026-01-08"
    assert set(console) == {"sending", "letters", "calls", "conversion"}

    second = _demo(data)
    assert "skipped" in second["demo_data"]  # type: ignore[operator]
    assert second["run"]["queued"] == 0  # type: ignore[index]
    assert sorted(Path(str(second["capture_dir"])).glob("*.eml")) == emls
