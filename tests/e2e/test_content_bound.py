"""The three ways content once escaped the gate, replayed through the real CLI as a marketer
and an approver would (user add → campaign create → approve → schedule → run-due → worker →
the captured mail), on both databases. Each is now refused or harmless:

1. a purpose (4) survey whose template moves the customer record into a namespace to print
   the birth date and external id: refused when saved, naming `customer`;
2. an advertising campaign whose footer include sits in a branch that never renders: every
   captured mail still shows the full sender display (R19), added by the composer;
3. a 20 % tyre sale filed under purpose (2) as not advertising: refused when saved (R14 mixed
   content); filed as what it is, it is gated as advertising (NO_EMAIL_CONSENT where there is
   no consent) and carries the sender display.
"""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import sendkit
from conftest import cli_env

from outreach.render import dealer as dealer_mod
from outreach.render import display

OUTREACH = str(Path(sys.executable).with_name("outreach"))
PASSWORD = "correct horse battery"
DEMO_DEALER = dealer_mod.load(sendkit.REPO / "config" / "dealer.demo.toml")

SURVEY_LEAK = """
name = "ご満足度アンケートのお願い"
purpose = "p4"
channels = ["email"]
subject_template = "{{ customer.name_kanji }}様 アンケートのお願い"
text_template = '''
{% set ns = namespace(c=none) %}{% set ns.c = customer %}
{{ customer.name_kanji }}様 生年月日 {{ ns.c.birth_date }} / お客様番号 {{ ns.c.external_id }}
'''
"""

HIDDEN_FOOTER = """
name = "新型車発表会のご案内"
purpose = "p3"
channels = ["email"]
rate_per_second = 1000
subject_template = "{{ customer.name_kanji }}様 新型車発表会のご案内"
text_template = '''
{{ customer.name_kanji }}様
新型車の発表会を開催いたします。
{% if customer.name_kanji == "該当なし" %}{% include "_base/footer.txt" %}{% endif %}
'''
html_template = '''
<p>{{ customer.name_kanji }}様</p><p>新型車の発表会を開催いたします。</p>
{% if false %}{% include "_base/footer.html" %}{% endif %}
'''
"""

TYRE_SALE = """
name = "冬タイヤのお知らせ"
purpose = "p2"
channels = ["email"]
rate_per_second = 1000
advertising = {advertising}
subject_template = "{{{{ customer.name_kanji }}}}様 冬タイヤのお知らせ"
text_template = '''
{{{{ customer.name_kanji }}}}様
冬タイヤを20％オフでご提供します。
'''
"""


def parsed(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage) and msg.defects == []
    return msg


def shows_sender_display(msg: EmailMessage) -> None:
    text_part, html_part = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text_part is not None
    text = text_part.get_content()
    html = html_part.get_content() if html_part is not None else None
    optout = str(msg["List-Unsubscribe"]).split(",")[0].strip("<> ")
    links = display.Links(optout, "-")
    assert display.problems(text, html, DEMO_DEALER, links) == [], msg["Subject"]
    for needle in (DEMO_DEALER.sender_name, DEMO_DEALER.postal_address, "直ちに配信を停止"):
        assert needle in text


def test_the_three_cases_are_refused_or_harmless(db_url: str, tmp_path: Path) -> None:
    config = sendkit.all_day_config(tmp_path / "config")  # wall clock: any hour is in window
    data = tmp_path / "data"
    env = cli_env(db_url, data, OUTREACH_CONFIG_DIR=str(config))

    def cli(*args: str, ok: bool = True, **extra: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [OUTREACH, *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=180,
        )
        if ok:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
        return r

    def create(name: str, text: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        path = tmp_path / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        return cli("campaign", "create", "--file", str(path), "--as", "mika", "--json", ok=ok)

    cli("demo-data", "--customers", "150", "--seed", "5")
    for user, role in (("mika", "marketer"), ("aoi", "approver")):
        cli("user", "add", "--username", user, "--role", role, OUTREACH_NEW_PASSWORD=PASSWORD)

    # 1. The namespace construct is refused when saved: nothing to approve, nothing sent.
    r = create("survey", SURVEY_LEAK, ok=False)
    assert r.returncode == 1 and "customer" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

    # 3a. Promotional wording cannot be filed as a non-advertising service notice.
    r = create("sale_notice", TYRE_SALE.format(advertising="false"), ok=False)
    assert r.returncode == 1 and "宣伝の文言" in r.stderr and "20％オフ" in r.stderr, r.stderr

    # 2. and 3b. Saved, approved, scheduled, fired, sent.
    ids = {}
    for name, text in (
        ("footer", HIDDEN_FOOTER),
        ("sale", TYRE_SALE.format(advertising="true")),
    ):
        created = json.loads(create(name, text).stdout)
        ids[name] = created["id"]
        cid = str(created["id"])
        cli("campaign", "approve", cid, "--version", "1", "--as", "aoi")
        cli("campaign", "schedule", cid, "--as", "aoi")
    fired = {f["campaign_id"]: f for f in json.loads(cli("campaign", "run-due", "--json").stdout)}
    sale = fired[ids["sale"]]
    assert sale["queued"] > 0 and sale["reasons"].get("NO_EMAIL_CONSENT", 0) > 0, sale
    sent = json.loads(cli("worker", "--once", "--json").stdout)
    # Sent now: the allowed ones; those whose store is closed today wait for its next open day
    # (email honours the serving store's closing days, config/gate.toml).
    assert sent.get("sent", 0) == sale["allowed"] + fired[ids["footer"]]["allowed"], (sent, fired)

    mails = [parsed(p) for p in sorted((data / "outbox-capture").glob("*.eml"))]
    by_subject: dict[str, list[EmailMessage]] = {}
    for m in mails:
        key = "footer" if "発表会" in str(m["Subject"]) else "sale"
        by_subject.setdefault(key, []).append(m)
    assert len(by_subject["footer"]) == fired[ids["footer"]]["allowed"] > 0
    assert len(by_subject["sale"]) == sale["allowed"]
    for m in mails:
        shows_sender_display(m)
        body = m.get_body(("plain",))
        assert body is not None and "生年月日" not in body.get_content()
