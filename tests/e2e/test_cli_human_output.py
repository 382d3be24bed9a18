"""Every human CLI output reads in Japanese: no code from the label catalogue (reason codes,
statuses, kinds, insurers, channels, audit actions…) and no ISO timestamp, outside `--json`
(which keeps the codes). The real `outreach` command on a demo database (SQLite).

Not scanned: `gate explain`, bilingual on purpose (each reason's code with its Japanese and
English text, for compliance reviews), and `templates preview`, which prints a mail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import labelscan
import pytest

REPO = Path(__file__).resolve().parents[2]
OUTREACH = str(Path(sys.executable).parent / "outreach")
PASSWORD = "correct horse battery staple"
CAMPAIGN = """
name = "冬の点検フェア"
purpose = "p3"
channels = ["email"]
advertising = true
subject_template = "{{ customer.name_kanji }}様 冬の点検フェア"
text_template = '''{{ customer.name_kanji }}様
冬の点検フェアのご案内です。
{% include "_base/footer.txt" %}
'''
[[audience]]
field = "customer.prefecture"
op = "eq"
value = "東京都"
"""


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update(
        OUTREACH_DATA_DIR=str(data),
        OUTREACH_CONFIG_DIR=str(REPO / "config"),
        # The demo dealer: the shipped dealer.toml holds go-live placeholders that stop the
        # worker (render.golive), which is not what this test is about.
        OUTREACH_DEALER_FILE=str(REPO / "config" / "dealer.demo.toml"),
    )
    return env


def _run(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        [OUTREACH, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        input=stdin,
    )
    assert proc.returncode in (0, 1), (args, proc.stdout, proc.stderr)
    return proc.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    data = tmp_path_factory.mktemp("cli") / "data"
    env = _env(data)
    first = _run(env, "demo", "--customers", "1000", "--date", "2026-01-06")
    return env, first


def test_every_human_output_is_japanese(demo: tuple[dict[str, str], str], tmp_path: Path) -> None:
    env, first = demo
    outputs: dict[str, str] = {"demo": first}
    outputs["demo (again)"] = _run(env, "demo", "--customers", "1000", "--date", "2026-01-06")
    for name, role in (("mika", "marketer"), ("aoi", "approver")):
        outputs[f"user add {name}"] = _run(
            {**env, "OUTREACH_NEW_PASSWORD": PASSWORD},
            "user",
            "add",
            "--username",
            name,
            "--role",
            role,
            "--display-name",
            f"{name}さん",
        )
    spec = tmp_path / "campaign.toml"
    spec.write_text(CAMPAIGN, encoding="utf-8")
    outputs["campaign create"] = _run(
        env, "campaign", "create", "--file", str(spec), "--as", "mika"
    )
    outputs["campaign approve"] = _run(
        env, "campaign", "approve", "1", "--version", "1", "--as", "aoi"
    )
    outputs["campaign list"] = _run(env, "campaign", "list")
    outputs["campaign show"] = _run(env, "campaign", "show", "1")
    outputs["campaign preview"] = _run(env, "campaign", "preview", "1", "--as", "aoi")
    outputs["runs"] = _run(env, "runs")
    outputs["outbox"] = _run(env, "outbox")
    outputs["worker --once"] = _run(env, "worker", "--once")
    outputs["run-daily --dry-run"] = _run(env, "run-daily", "--date", "2026-01-07", "--dry-run")
    outputs["gate audit"] = _run(env, "gate", "audit", "--purpose", "p3", "--channel", "email")
    outputs["customer show"] = _run(env, "customer", "show", "C0000001")
    outputs["consent verify"] = _run(env, "consent", "verify")
    outputs["consent record"] = _run(
        env,
        "consent",
        "record",
        "--customer",
        "1",
        "--action",
        "opt_out",
        "--scope",
        "category:marketing",
        "--source",
        "phone",
        "--actor",
        "aoi",
    )
    outputs["templates check"] = _run(env, "templates", "check")
    outputs["user list"] = _run(env, "user", "list")

    problems = {
        name: found for name, text in outputs.items() if (found := labelscan.findings(text))
    }
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)
    # the second demo says why it queued nothing new
    assert "前回までに登録済み" in outputs["demo (again)"]
    # the worker's report is in words, not counters
    assert "crash_window_ms" not in outputs["worker --once"]


def test_json_keeps_the_codes(demo: tuple[dict[str, str], str]) -> None:
    env, _ = demo
    data = json.loads(_run(env, "gate", "audit", "--purpose", "p3", "--channel", "email", "--json"))
    assert any(code.isupper() and "_" in code for code in data["reasons"])
    runs = json.loads(_run(env, "runs", "--json"))
    assert runs[0]["status"] in ("done", "failed", "running") and "T" in runs[0]["started_at"]
