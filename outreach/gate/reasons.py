"""Why the gate says no: stable reason codes, each with a Japanese and an English explanation.

The codes are part of the product's contract: they are persisted in `gate_decisions.reasons`,
counted by `gate audit` and run summaries, and shown to staff. Never rename one; add new ones.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    ja: str
    en: str
    deferral: bool = False  # a later send may be allowed (OUTSIDE_SEND_WINDOW)


PURPOSE_UNKNOWN = "PURPOSE_UNKNOWN"
PURPOSE_NOT_NOTIFIED = "PURPOSE_NOT_NOTIFIED"
CHANNEL_NOT_ALLOWED = "CHANNEL_NOT_ALLOWED"
DATA_ITEM_NOT_ALLOWED = "DATA_ITEM_NOT_ALLOWED"
SENSITIVE_DATA = "SENSITIVE_DATA"
JOINT_USE_SCOPE = "JOINT_USE_SCOPE"
INSURER_PARTITION = "INSURER_PARTITION"
OPTED_OUT = "OPTED_OUT"
USE_SUSPENDED = "USE_SUSPENDED"
UNCLASSIFIED_TEMPLATE = "UNCLASSIFIED_TEMPLATE"
NO_EMAIL_CONSENT = "NO_EMAIL_CONSENT"
CONTACT_UNREACHABLE = "CONTACT_UNREACHABLE"
CUSTOMER_INACTIVE = "CUSTOMER_INACTIVE"
VEHICLE_INACTIVE = "VEHICLE_INACTIVE"
FREQUENCY_CAP = "FREQUENCY_CAP"
OUTSIDE_SEND_WINDOW = "OUTSIDE_SEND_WINDOW"
INSURER_NOT_NAMED = "INSURER_NOT_NAMED"
LEGAL_NOTICE_ADVERTISING = "LEGAL_NOTICE_ADVERTISING"

ALL: dict[str, Reason] = {
    r.code: r
    for r in (
        Reason(
            PURPOSE_UNKNOWN,
            "この利用目的はプライバシーポリシーの利用目的一覧にありません。",
            "The purpose is not in the privacy policy's purpose registry.",
        ),
        Reason(
            PURPOSE_NOT_NOTIFIED,
            "この利用目的はお客様が通知を受けた版より後に追加され、まだ通知・公表されていないか、"
            "関連性が合理的に認められる範囲を超えるため同意が必要です。",
            "The purpose was added after the policy version shown to the customer and has not "
            "yet been notified or published, or it is not reasonably related and needs consent.",
        ),
        Reason(
            CHANNEL_NOT_ALLOWED,
            "この利用目的では、この連絡方法（チャネル）は定められていません。",
            "The purpose does not name this channel.",
        ),
        Reason(
            DATA_ITEM_NOT_ALLOWED,
            "メッセージが、この利用目的で利用できない個人データの項目を使っています。",
            "The message uses a data item outside the purpose's allowed items.",
        ),
        Reason(
            SENSITIVE_DATA,
            "要配慮個人情報を使っているため、送信できません。",
            "The message or audience filter touches sensitive personal information "
            "(要配慮個人情報); denied.",
        ),
        Reason(
            JOINT_USE_SCOPE,
            "共同利用により取得した情報で、共同利用の利用目的①〜③（①は商品・サービス・"
            "イベント・キャンペーンのご案内に限る）、項目①〜⑧、または共同利用者の範囲"
            "（LEXUS TOKYO経由で入手した情報に限る範囲を含む）の外です。",
            "The record came through joint use and the purpose (① covers products, services, "
            "events and campaigns only), the items (①–⑧) or the joint users' scope (the LEXUS "
            "TOKYO joint use covers only data obtained via LEXUS TOKYO) do not cover it.",
        ),
        Reason(
            INSURER_PARTITION,
            "ある保険会社のために保有する情報を、同意なく他社の商品または当社のキャンペーンに"
            "使おうとしています。",
            "Data held for one insurer would be used for another insurer's product or for a "
            "dealer campaign without consent.",
        ),
        Reason(
            INSURER_NOT_NAMED,
            "保険代理店としてのご提案（利用目的(8)）は保険会社ごとに区分されるため、"
            "プライバシーポリシーに記載の保険会社を一社指定する必要があります。",
            "Purpose (8) is partitioned per insurer: the request must name one of the insurers "
            "the privacy policy lists.",
        ),
        Reason(
            LEGAL_NOTICE_ADVERTISING,
            "法令に基づく通知（漏えい等の本人通知など）は広告宣伝を含められません。"
            "広告宣伝メールとして分類されたテンプレートでは送信できません。",
            "A notice the law requires (e.g. to the people affected by a leak) carries no "
            "advertising: an advertising or unclassified template cannot be sent under it.",
        ),
        Reason(
            OPTED_OUT,
            "お客様がこの種類の連絡の配信停止を申し出ています。",
            "An opt-out covers this send (all, this purpose, category, channel, kind or campaign).",
        ),
        Reason(
            USE_SUSPENDED,
            "お客様から個人情報の利用停止の請求を受けているため、一切送信しません。",
            "The customer asked to stop the use of their data (利用停止, APPI Art. 35); "
            "nothing is sent.",
        ),
        Reason(
            UNCLASSIFIED_TEMPLATE,
            "テンプレートが広告宣伝メール（特定電子メール）に当たるか分類されていないため、"
            "送信できません。",
            "The template is not classified as advertising or not (R14); it cannot be sent.",
        ),
        Reason(
            NO_EMAIL_CONSENT,
            "このメールアドレスには、広告宣伝メールを送るための同意等の記録（根拠と証跡）が"
            "ありません。",
            "Advertising email without a recorded legal basis and evidence for this address "
            "(特定電子メール法 Art. 3).",
        ),
        Reason(
            CONTACT_UNREACHABLE,
            "この連絡方法で使える連絡先がありません（未登録、不達、苦情など）。",
            "No usable address for the channel (missing, hard-bounced or complained).",
        ),
        Reason(
            CUSTOMER_INACTIVE,
            "お客様の記録が有効ではありません（ご逝去、取引終了など）。",
            "The customer is deceased or closed.",
        ),
        Reason(
            VEHICLE_INACTIVE,
            "対象の車両は売却済みまたは廃車済みです。",
            "The reminder is about a vehicle that was sold or scrapped.",
        ),
        Reason(
            FREQUENCY_CAP,
            "連絡回数の上限、またはより優先度の高いご案内の直後のため、今回は送信を控えます。",
            "Held back by the contact budget: too many contacts in the rolling window, or too "
            "soon after a higher-priority notice.",
        ),
        Reason(
            OUTSIDE_SEND_WINDOW,
            "送信できる時間帯ではありません（深夜早朝、祝日、店舗の定休日など）。"
            "次に送信できる時刻まで延期します。",
            "Outside the allowed send window (quiet hours, national holiday or the store's "
            "closing day); deferred to the next allowed time.",
            deferral=True,
        ),
    )
}


def get(code: str) -> Reason:
    """The explanation of a code; an unknown code is shown as itself rather than hidden."""
    return ALL.get(code) or Reason(code, code, code)
