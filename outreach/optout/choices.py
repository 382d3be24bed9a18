"""The options of the opt-out page, narrowest first: this mail's kind, its category, all
advertising, all contact (a cessation request under APPI Art. 35)."""

from __future__ import annotations

from dataclasses import dataclass

from outreach.optout.policy import OptoutPolicy
from outreach.optout.tokens import TokenClaims

MARKETING = "category:marketing"
CESSATION = "all"


@dataclass(frozen=True, slots=True)
class Choice:
    key: str  # the form value: this | category | marketing | all
    scope: str
    action: str  # opt_out | cessation
    title: str
    description: str


def choices(claims: TokenClaims, policy: OptoutPolicy, campaign_name: str | None) -> list[Choice]:
    """The options of the opt-out page, narrowest first, each scope once."""
    label = policy.label(claims.scope, campaign_name)
    out = [
        Choice(
            "this",
            claims.scope,
            "opt_out",
            f"{label}を停止",
            "このメールと同じ種類のご案内だけを、今後お送りしません。",
        )
    ]
    cat = f"category:{claims.category}" if claims.category else ""
    if cat and cat not in (MARKETING, claims.scope):
        out.append(
            Choice(
                "category",
                cat,
                "opt_out",
                f"{policy.label(cat)}をすべて停止",
                "この分類のご案内を、メール・郵便・お電話を含めて今後お送りしません。",
            )
        )
    out.append(
        Choice(
            "marketing",
            MARKETING,
            "opt_out",
            "すべての広告メールを停止",
            "キャンペーン・イベント・新型車などの広告のご案内をすべて停止します"
            "（郵便・お電話によるご案内も含みます）。車検・点検・保険満期などの"
            "大切なお知らせは引き続きお届けします。",
        )
    )
    out.append(
        Choice(
            "all",
            CESSATION,
            "cessation",
            "すべてのご連絡を停止（個人情報の利用停止のご請求）",
            "個人情報保護法第35条にもとづく「利用停止」のご請求として承ります。"
            "車検・点検・保険満期のお知らせを含め、当社からのご連絡をすべて止め、"
            "ご案内のためにお客様の情報を使うことをやめます。"
            "受付の結果は、あらためて当社からお知らせします。",
        )
    )
    seen: set[str] = set()
    unique = []
    for c in out:
        if c.scope not in seen:
            seen.add(c.scope)
            unique.append(c)
    return unique
