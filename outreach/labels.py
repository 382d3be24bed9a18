"""One catalogue of the Japanese words staff and customers read for the codes the system keeps:
reasons, statuses, kinds, insurers, channels, bases, audit actions, scopes. Used by the staff
console, the CLI's human output and the documents (disclosure, correction notice); `--json`
and the API keep the codes. Pure: no I/O, nothing at import but the tables.

`label(group, code)` never returns the bare code for a code the catalogue knows; for one it
does not know it returns the code (so nothing is hidden), and the catalogue scan test fails.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from outreach.clock import JST
from outreach.staff.spec import AUDIENCE_FIELDS

REASONS: dict[str, str] = {
    "PURPOSE_UNKNOWN": "利用目的がプライバシーポリシーにない",
    "PURPOSE_NOT_NOTIFIED": "利用目的が未通知・同意なし",
    "CHANNEL_NOT_ALLOWED": "この利用目的で使えない連絡手段",
    "DATA_ITEM_NOT_ALLOWED": "利用目的の範囲外のデータ項目",
    "SENSITIVE_DATA": "要配慮個人情報を使用",
    "JOINT_USE_SCOPE": "共同利用の範囲外",
    "INSURER_PARTITION": "保険会社ごとの区分の範囲外",
    "OPTED_OUT": "配信停止済み",
    "USE_SUSPENDED": "利用停止の請求あり",
    "UNCLASSIFIED_TEMPLATE": "広告かどうか未分類の文面",
    "NO_EMAIL_CONSENT": "広告メールの同意等の記録なし",
    "CONTACT_UNREACHABLE": "使える連絡先がない",
    "CUSTOMER_INACTIVE": "顧客記録が無効（ご逝去・取引終了）",
    "VEHICLE_INACTIVE": "車両を保有していない",
    "FREQUENCY_CAP": "連絡回数の上限",
    "OUTSIDE_SEND_WINDOW": "送信時間帯外（延期）",
}

GROUPS: dict[str, dict[str, str]] = {
    "reason": REASONS,
    "campaign_status": {
        "draft": "下書き",
        "approved": "承認済み",
        "scheduled": "配信予約済み",
        "running": "配信中",
        "paused": "一時停止中",
        "done": "完了",
        "cancelled": "中止",
    },
    "outbox_status": {
        "queued": "送信待ち",
        "paused": "一時停止",
        "sending": "送信中",
        "sent": "送信済み",
        "failed": "失敗",
        "suppressed": "送信時に停止",
        "cancelled": "中止",
        "bounced": "不達",
        "printed": "印刷済み",
        "called": "架電済み",
    },
    "attempt_result": {
        "sent": "送信",
        "temp_fail": "一時的な失敗（再試行）",
        "perm_fail": "恒久的な失敗",
        "suppressed": "送信時に停止",
        "denied": "送信不可と判定",
    },
    "run_status": {"running": "実行中", "done": "完了", "failed": "失敗"},
    "run_kind": {"daily": "毎日の自動リマインド", "campaign": "キャンペーン"},
    "customer_status": {"active": "有効", "deceased": "ご逝去", "closed": "取引終了"},
    "acquisition": {"direct": "ご本人から取得", "joint_use": "共同利用により取得"},
    "vehicle_status": {"owned": "保有中", "sold": "売却済み", "scrapped": "廃車"},
    "owner_kind": {"user": "使用者", "lease": "リース", "credit": "クレジット", "other": "その他"},
    "kind": {
        "shaken": "車検",
        "inspection": "法定12ヶ月点検",
        "jibaiseki": "自賠責保険",
        "nini": "任意保険",
        "campaign": "キャンペーン",
    },
    "policy_kind": {"jibaiseki": "自賠責保険", "nini": "任意保険"},
    "insurer": {
        "tokio_marine": "東京海上日動火災保険",
        "aioi_nissay_dowa": "あいおいニッセイ同和損害保険",
        "mitsui_sumitomo": "三井住友海上火災保険",
        "other": "その他の保険会社",
    },
    "channel": {"email": "電子メール", "post": "郵便", "phone": "電話", "visit": "訪問"},
    "category": {
        "notified": "通知済みの目的",
        "service_notice": "点検・車検・保険満期のご案内",
        "marketing": "営業・キャンペーンのご案内",
        "survey": "アンケート",
        "credit": "クレジット・リース",
        "inquiry": "お問い合わせへの対応",
        "connected_services": "コネクティッドサービス",
        "insurance_agency": "保険代理店業務",
    },
    "email_basis": {
        "opt_in": "オプトイン（受信の同意）",
        "written": "書面による通知",
        "transaction": "取引関係",
        "published": "公表されたアドレス",
    },
    "evidence_method": {
        "web_form": "ウェブの申込フォーム",
        "paper_form": "紙の申込書",
        "business_card": "名刺の交換",
        "order_form": "注文書",
        "store": "店頭",
        "phone": "電話",
    },
    "ledger_problem": {
        "seq_gap": "記録の番号が飛んでいます",
        "prev_hash_mismatch": "前の記録とのつながり（ハッシュ）が合いません",
        "hash_mismatch": "記録が書き換えられています（ハッシュが合いません）",
        "unknown_action": "不明な操作の記録があります",
        "record_out_of_step": "顧客記録の配信設定が台帳と合いません",
    },
    "provision_basis": {
        "consent": "ご本人の同意",
        "joint_use": "共同利用",
        "outsourcing": "業務の委託",
        "law": "法令に基づく",
    },
    "provision_direction": {"provide": "提供", "receive": "受領"},
    "consent_action": {
        "grant": "同意",
        "withdraw": "同意の撤回",
        "opt_out": "配信停止",
        "cessation": "利用停止の請求",
        "resubscribe": "受信の再開",
        "reinstate": "利用の再開",
    },
    "source": {
        "link": "メール内のリンク",
        "one_click": "ワンクリック配信停止",
        "preference_page": "配信設定ページ",
        "mailto": "配信停止メール",
        "phone": "電話",
        "store": "店頭",
        "letter": "書面",
        "email": "電子メール",
        "import": "顧客データの取り込み",
        "demo": "デモデータ",
        "staff": "スタッフ",
        "cli": "管理コマンド",
    },
    "request_kind": {"disclosure": "開示", "correction": "訂正", "cessation": "利用停止"},
    "request_outcome": {
        "disclosed": "開示済み",
        "corrected": "訂正済み",
        "refused": "訂正せず（理由を通知）",
        "accepted": "受け付け済み",
        "pending": "対応中",
    },
    "identity_check": {
        "license": "運転免許証",
        "mynumber_card": "マイナンバーカード（表面）",
        "passport": "パスポート",
        "health_insurance": "健康保険証",
        "phone_callback": "登録電話番号への折り返し",
        "in_person_known": "店頭で担当者が本人と確認",
    },
    "delivery": {"paper": "書面（印刷）", "pdf": "電子データ（PDF）", "electronic": "電子データ"},
    "suppression_reason": {"hard_bounce": "不達", "complaint": "苦情", "manual": "手動"},
    "actor": {
        "customer": "お客様ご本人",
        "scheduler": "自動実行",
        "system": "システム",
        "import": "データ取り込み",
        "demo": "デモデータ",
    },
    "role": {"marketer": "マーケティング担当", "approver": "承認者", "admin": "管理者"},
    "audit_action": {
        "campaign.create": "キャンペーンを作成",
        "campaign.edit": "キャンペーンを編集",
        "campaign.approve": "承認",
        "campaign.schedule": "配信を予約",
        "campaign.start": "配信を開始",
        "campaign.pause": "一時停止",
        "campaign.resume": "再開",
        "campaign.cancel": "中止",
        "campaign.done": "配信完了",
        "campaign.preview": "プレビュー",
        "campaign.test_send": "テスト送信",
        "customer.read": "顧客情報の閲覧",
        "customer.search": "顧客検索",
        "customer.correct": "訂正",
        "customer.correct_refused": "訂正せず",
        "customer.export": "開示書の作成",
        "customer.disclosure": "開示書の作成",
        "customer.opt_out": "配信停止の受付",
        "customer.cessation": "利用停止の受付",
        "request.notified": "結果の通知",
        "login": "ログイン",
        "login.failed": "ログイン失敗",
        "login.limited": "ログイン制限",
        "logout": "ログアウト",
        "user.add": "スタッフの追加",
        "user.activate": "スタッフを有効化",
        "user.deactivate": "スタッフを無効化",
        "read": "閲覧",
        "opt_out": "配信停止",
        "resubscribe": "受信の再開",
    },
    "summary": {
        "candidates": "対象候補",
        "already_queued": "登録済み",
        "allowed": "許可",
        "denied": "除外",
        "deferred": "延期",
        "queued": "新たに登録",
        "flags": "要確認",
        "claimed": "取り出し",
        "sent": "送信",
        "failed": "失敗",
        "suppressed": "送信時に停止",
        "retried": "再試行",
        "released": "戻し",
        "dry_run": "試行のみ",
    },
    "data_item": {
        "name": "氏名",
        "address": "住所",
        "birth_date": "生年月日",
        "phone": "電話番号",
        "email": "メールアドレス",
        "vehicle": "自動車に関する情報",
        "inspection_certificate": "自動車検査証情報",
        "registration_number": "自動車登録番号",
        "maintenance": "修理・整備に関する情報",
        "transaction": "取引に関する情報",
        "requests": "ご要望に関する情報",
        "call_recording": "通話の録音",
        "insurance_policy": "保険契約に関する情報",
        "sensitive": "要配慮個人情報",
    },
    "op": {
        "eq": "＝",
        "in": "のいずれか",
        "between": "の範囲",
        "gte": "以降・以上",
        "lte": "以前・以下",
    },
    "bool": {"True": "はい", "False": "いいえ", "true": "はい", "false": "いいえ"},
    "answer": {"yes": "はい", "no": "いいえ"},
}

SCOPE_HEADS = {
    "all": "すべての連絡",
    "cessation": "個人情報の利用停止",
    "insurer_share": "保険情報の他社・当社利用への同意",
}
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def label(group: str, code: object) -> str:
    """The Japanese label of `code` in `group` ("—" for none)."""
    if code is None or code == "":
        return "—"
    key = str(code)
    table = GROUPS.get(group)
    if table is None:
        raise KeyError(f"no label group {group!r}")
    return table.get(key, key)


def known(group: str) -> Mapping[str, str]:
    return GROUPS[group]


def scope(code: str) -> str:
    """An opt-out/consent scope: all, category:x, channel:x, kind:x, purpose:pN, campaign:N."""
    if code in SCOPE_HEADS:
        return SCOPE_HEADS[code]
    head, _, rest = code.partition(":")
    if head == "category":
        return label("category", rest)
    if head == "channel":
        return f"{label('channel', rest)}での連絡"
    if head == "kind":
        return f"{label('kind', rest)}のご案内"
    if head == "purpose":
        return f"利用目的{purpose_number(rest)}"
    if head == "campaign":
        return f"キャンペーン（番号 {rest}）"
    if head == "insurer":
        return label("insurer", rest)
    return code


def purpose_number(pid: str) -> str:
    """p3 → （3）, as the privacy policy numbers its purposes."""
    if pid.startswith("p") and pid[1:].isdigit():
        return f"（{pid[1:]}）"
    return pid


def reasons(codes: str | list[str] | None) -> str:
    if not codes:
        return "—"
    items = codes.split() if isinstance(codes, str) else codes
    return "、".join(label("reason", c) for c in items)


def when(value: dt.datetime | dt.date | str | None) -> str:
    """JST in Japanese form: 2026年12月1日 09:05 (a date: 2026年12月1日)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        text = value
        try:
            value = dt.datetime.fromisoformat(text) if "T" in text else dt.date.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        j = aware.astimezone(JST)
        return f"{j.year}年{j.month}月{j.day}日 {j:%H:%M}"
    return f"{value.year}年{value.month}月{value.day}日"


def batch(name: str) -> str:
    """A print batch's name (`2026-12-02`, `2026-12-02-2`) in words: 2026年12月2日分（2）."""
    day, n = name[:10], name[11:]
    try:
        words = when(dt.date.fromisoformat(day)) + "分"
    except ValueError:
        return name
    return f"{words}（{n}）" if n else words


def has_iso_timestamp(text: str) -> bool:
    return bool(_ISO.search(text))


_NOTE = re.compile(r"\b([a-z_]+)=(\d+)\b")
NOTE_WORDS = {"held": "保留", "released": "戻し", "cancelled": "中止", "hits": "件数"}


def note(text: str | None) -> str:
    """An audit note such as `held=12` in words (保留 12件)."""
    if not text:
        return ""

    def word(m: re.Match[str]) -> str:
        key = m[1]
        name = NOTE_WORDS.get(key) or GROUPS["summary"].get(key, key)
        return f"{name} {m[2]}件"

    return _NOTE.sub(word, text)


FIELD_NAMES = {
    "name": "キャンペーン名",
    "purpose": "利用目的",
    "category": "区分",
    "channels": "連絡手段",
    "audience": "対象者の条件",
    "subject_template": "件名",
    "text_template": "本文（テキスト）",
    "html_template": "本文（HTML）",
    "advertising": "広告メールの扱い",
    "schedule_at": "配信日時",
    "recurrence": "繰り返し",
    "rate_per_second": "送信速度",
    "version": "版",
    "username": "ユーザー名",
    "password": "パスワード",
    "role": "役割",
    "display_name": "表示名",
    "email": "メールアドレス",
    "field": "訂正する項目",
    "value": "正しい値",
    "reason": "調査結果・理由",
    "outcome": "結果",
    "identity": "本人確認の方法",
    "delivery": "交付方法",
    "requester": "請求者",
    "note": "メモ",
    "kind": "種類",
    "scope": "範囲",
    "source": "受付方法",
    "q": "検索語",
    "at": "日時",
    "method": "通知の方法",
    "to": "送信先",
}


def field_name(path: str) -> str:
    """A form/definition field as staff know it: `audience.vehicle.car_name` → 対象者の条件
    「車名」; `audience.0.op` → 対象者の条件（1行目）."""
    head, _, rest = path.partition(".")
    if head == "audience" and rest:
        if rest in AUDIENCE_FIELDS:
            return f"対象者の条件「{AUDIENCE_FIELDS[rest].label}」"
        first = rest.split(".", 1)[0]
        if first.isdigit():
            return f"対象者の条件（{int(first) + 1}行目）"
        return "対象者の条件"
    if head == "body":
        return field_name(rest) if rest else "入力"
    return FIELD_NAMES.get(head, "入力")


def person(username: str | None, names: Mapping[str, str]) -> str:
    """Who did something: a staff member's display name, or the system actor in words."""
    if not username:
        return "—"
    if username in names:
        return names[username]
    if username.startswith("cli:"):
        return f"管理コマンド（{username[4:]}）"
    return GROUPS["actor"].get(username, username)
