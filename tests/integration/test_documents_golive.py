"""The go-live guard covers the documents (R10, R19): on the real dealer file no document
prints a placeholder — `outreach policy render` and `templates check` refuse (exit 2, naming
the file and field), /privacy answers 503 in Japanese, the disclosure leaves the field out —
while the demo dealer file publishes the demo documents (`make demo` keeps working)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx

from outreach import bootstrap
from outreach.render import dealer as dealer_mod
from outreach.render import golive
from outreach.web.app import create_app
from outreach.web.staff import documents

REPO = Path(__file__).resolve().parents[2]
OUTREACH = str(Path(sys.executable).with_name("outreach"))
REAL, DEMO = REPO / "config" / "dealer.toml", REPO / "config" / "dealer.demo.toml"
PURPOSES, POLICY = REPO / "config" / "purposes.toml", REPO / "config" / "policy.toml"


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    base.update(
        {
            "OUTREACH_DATA_DIR": str(tmp_path / "data"),
            "OUTREACH_CONFIG_DIR": str(REPO / "config"),
            "OUTREACH_DEALER_FILE": str(DEMO),
            **env,
        }
    )
    return subprocess.run([OUTREACH, *args], env=base, capture_output=True, text=True, timeout=60)


def filled_config(tmp_path: Path) -> Path:
    """The shipped configuration with the dealer's address filled in (policy.toml as shipped)."""
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    text = REAL.read_text(encoding="utf-8")
    text = text.replace("〒000-0000", "〒107-0062").replace(
        "東京都（本社所在地：送信開始前に記入）", "東京都港区南青山1-1-1"
    )
    (config / "dealer.toml").write_text(text, encoding="utf-8")
    return config


def test_the_markers_cover_the_documents_placeholders(tmp_path: Path) -> None:
    found = {(p.file.name, p.field) for p in golive.check(REAL, PURPOSES, POLICY)}
    assert ("dealer.toml", "dealer.postal_address") in found
    assert ("policy.toml", "protection_manager") in found  # 公表前に記入
    # the registry's old address placeholder would be caught too
    bad = tmp_path / "purposes.toml"
    bad.write_text(
        PURPOSES.read_text(encoding="utf-8").replace(
            'responsible_address = "当社本店所在地',
            'responsible_address = "（住所未登録：公表前に記入）"#',
        ),
        encoding="utf-8",
    )
    assert [p.field for p in golive.check(DEMO, bad)] == ["joint_use.responsible_address"]
    # the demo's documents: nothing left to fill in
    assert golive.check(DEMO, PURPOSES, POLICY) == []


def test_policy_render_refuses_placeholders_on_the_real_dealer_file(tmp_path: Path) -> None:
    proc = run(tmp_path, "policy", "render", OUTREACH_DEALER_FILE=str(REAL))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "dealer.toml" in proc.stderr and "dealer.postal_code" in proc.stderr
    assert "Traceback" not in proc.stderr
    # the address filled in, policy.toml's 個人情報保護管理者 is still a placeholder
    config = filled_config(tmp_path)
    proc = run(
        tmp_path, "policy", "render", OUTREACH_CONFIG_DIR=str(config),
        OUTREACH_DEALER_FILE=str(config / "dealer.toml"),
    )  # fmt: skip
    assert proc.returncode == 2 and "policy.toml" in proc.stderr
    assert "protection_manager" in proc.stderr
    proc = run(
        tmp_path, "templates", "check", OUTREACH_CONFIG_DIR=str(config),
        OUTREACH_DEALER_FILE=str(config / "dealer.toml"),
    )  # fmt: skip
    assert proc.returncode == 2 and "policy.toml" in proc.stderr
    # filled in: it renders, with the dealer's address and no marker
    (config / "policy.toml").write_text(
        (config / "policy.toml")
        .read_text(encoding="utf-8")
        .replace(
            "個人情報保護管理者（氏名・役職：公表前に記入）", "個人情報保護管理者 総務部長 山田太郎"
        ),
        encoding="utf-8",
    )
    proc = run(
        tmp_path, "policy", "render", OUTREACH_CONFIG_DIR=str(config),
        OUTREACH_DEALER_FILE=str(config / "dealer.toml"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "東京都港区南青山1-1-1" in proc.stdout and "<style>" in proc.stdout
    assert not any(m in proc.stdout for m in golive.MARKERS)


def test_policy_render_on_the_demo_dealer_file_works(tmp_path: Path) -> None:
    proc = run(tmp_path, "policy", "render")
    assert proc.returncode == 0, proc.stderr
    assert "デモ用の架空の住所" in proc.stdout
    assert not any(m in proc.stdout for m in golive.MARKERS)


async def test_privacy_is_not_published_with_placeholders(app: bootstrap.App) -> None:
    real = bootstrap.build(app.settings.model_copy(update={"dealer_file": REAL}))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(real)), base_url="http://t"
        ) as client:
            r = await client.get("/privacy")
            css = await client.get("/privacy/policy.css")
    finally:
        await real.close()
    assert r.status_code == 503 and "準備中" in r.text and "03-5945-0121" in r.text
    assert not any(m in r.text for m in golive.MARKERS)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_the_disclosure_never_prints_a_placeholder() -> None:
    shown, unfinished = documents.printable(dealer_mod.load(REAL))
    assert unfinished == ["postal_address", "postal_code"]
    assert shown.postal_address == "" and shown.sender_name == "ジャミール商事株式会社"
    demo, none = documents.printable(dealer_mod.load(DEMO))
    assert none == [] and "デモ" in demo.postal_address
    assert documents.printable(None) == (None, [])
    assert isinstance(shown, SimpleNamespace)
