"""Whether a campaign definition may be saved: purpose, channels, audience fields and template
data items against the purpose registry, and the legal footer of advertising mail (R1, R3,
R14, R19). Pure: it takes the registry's facts through `Rules` and returns every problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from outreach.errors import OutreachError
from outreach.staff import spec as spec_mod
from outreach.staff.errors import Problem

# What an advertising mail must show (特定電子メール法 Art. 4, R19): the sender, the postal
# address, a contact point, and the opt-out link. Referenced as template fields.
# Including the shared footer template (`_base/footer.*`, written once from config/dealer.toml)
# satisfies all of them.
FOOTER_FIELDS: dict[str, str] = {
    "dealer.sender_name": "送信者の氏名・名称",
    "dealer.postal_address": "送信者の住所",
    "dealer.contact_phone": "苦情・問合せ先",
    "message.optout_url": "配信停止の連絡先（URL）",
}
FOOTER_TEMPLATE_PREFIX = "_base/footer"
NON_PERSONAL_PREFIXES = ("dealer.", "store.", "campaign.", "message.")


@dataclass(frozen=True, slots=True)
class PurposeView:
    id: str
    text: str  # the Japanese wording from the privacy policy
    category: str
    channels: frozenset[str]
    items: frozenset[str]
    topics: frozenset[str] = frozenset()  # what a campaign may state it is about (purposes.toml)


class Rules(Protocol):
    def purpose(self, purpose_id: str) -> PurposeView | None: ...

    def purposes(self) -> list[PurposeView]: ...

    def items_for_fields(self, fields: Iterable[str]) -> frozenset[str]: ...

    def fields_used(self, source: str) -> frozenset[str]: ...

    def includes(self, source: str) -> tuple[str | None, ...]: ...


def check(spec: spec_mod.CampaignSpec, rules: Rules) -> list[Problem]:
    """Every reason the campaign cannot be saved; empty when it can."""
    problems: list[Problem] = []
    purpose = rules.purpose(spec.purpose)
    if purpose is None:
        return [Problem("purpose", f"利用目的 {spec.purpose} はプライバシーポリシーにありません")]
    if spec.category is not None and spec.category not in {purpose.category, *purpose.topics}:
        problems.append(
            Problem("category", f"利用目的 {purpose.id} の区分は {purpose.category} です")
        )
    for ch in spec.channels:
        if ch not in purpose.channels:
            problems.append(
                Problem("channels", f"利用目的 {purpose.id} は連絡手段 {ch} を定めていません")
            )
    for cond in spec.audience:
        shape = spec_mod.check_condition(cond)
        if shape:
            problems.extend(shape)
            continue
        problems.extend(_items(f"audience.{cond.field}", [cond.field], purpose, rules))
    for name in ("subject_template", "text_template", "html_template"):
        source: str = getattr(spec, name)
        if not source:
            continue
        try:
            used = rules.fields_used(source)
        except (OutreachError, ValueError) as e:
            problems.append(Problem(name, f"テンプレートを解析できません: {e}"))
            continue
        except Exception as e:  # jinja2.TemplateSyntaxError and friends
            problems.append(Problem(name, f"テンプレートの構文エラー: {e}"))
            continue
        problems.extend(_items(name, sorted(used), purpose, rules))
        if spec.advertising and name != "subject_template" and not _has_footer(source, rules):
            problems.extend(
                Problem(name, f"広告メールに必要な表示がありません: {label}（{{{{ {field} }}}}）")
                for field, label in FOOTER_FIELDS.items()
                if field not in used
            )
    return problems


def _has_footer(source: str, rules: Rules) -> bool:
    try:
        names = rules.includes(source)
    except Exception:  # a syntax error is reported by the field analysis already
        return False
    return any(n is not None and n.startswith(FOOTER_TEMPLATE_PREFIX) for n in names)


def _items(where: str, fields: Iterable[str], purpose: PurposeView, rules: Rules) -> list[Problem]:
    out: list[Problem] = []
    for field in fields:
        if field.startswith(spec_mod.SENSITIVE_PREFIX):
            out.append(Problem(where, f"要配慮個人情報 {field} は使えません"))
            continue
        if field.startswith(NON_PERSONAL_PREFIXES):
            continue
        try:
            items = rules.items_for_fields([field])
        except OutreachError as e:
            out.append(Problem(where, f"不明な項目 {field}: {e}"))
            continue
        outside = sorted(items - purpose.items)
        if outside:
            out.append(
                Problem(
                    where,
                    f"{field} が使うデータ項目 {', '.join(outside)} は"
                    f"利用目的 {purpose.id} の範囲外です",
                )
            )
    return out


def used_items(spec: spec_mod.CampaignSpec, rules: Rules) -> frozenset[str]:
    """The data items a (valid) campaign uses: its templates' and its filter's."""
    fields: set[str] = set(spec.fields())
    for source in (spec.subject_template, spec.text_template, spec.html_template):
        if source:
            fields |= rules.fields_used(source)
    personal = [f for f in fields if not f.startswith(NON_PERSONAL_PREFIXES)]
    return rules.items_for_fields(personal) if personal else frozenset()
