"""Whether a campaign definition may be saved: purpose, channels, audience fields and template
data items against the purpose registry, and its classification (R1, R3, R14). Pure: it
takes the registry's facts through `Rules` and returns every problem.

A campaign is advertising (R14). It may be filed as not advertising only under a
service-notice purpose (a recall, a store closure notice) and only when its text holds no
promotional wording (`wording.promotional`); an approver then certifies it (`campaigns.approve`).
The legally required sender display (R19) is not the text's business: the composer adds it.

Also what staff may type into a customer's record (the Art. 34 correction form and API):
each field through the very validator the DMS import uses (`records.validate`), so a phone
is a phone and no control character gets in, whichever way the value arrives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from outreach.errors import OutreachError
from outreach.records import fields as record_fields
from outreach.records import rows as record_rows
from outreach.records import validate
from outreach.records.mappings import Mapping
from outreach.staff import spec as spec_mod
from outreach.staff import wording
from outreach.staff.errors import Problem

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


_NO_LABELS = Mapping(kind="customers", path=Path(), columns={})  # correctable fields: no choices

# Where a campaign's text may hold layout: a template body may hold tabs and line breaks,
# a subject (a mail header) and a name none.
TEMPLATE_LAYOUT = "\t\n\r"
FREE_TEXT_LAYOUT = "\t\n\r"  # a reason typed into a textarea


def controls(where: str, value: str, *, allow: str = "") -> list[Problem]:
    """The control-character problem of one text input, if any (the import's check)."""
    try:
        validate.refuse_controls(value, allow=allow)
    except ValueError as e:
        return [Problem(where, str(e))]
    return []


def correction_value(field: str, value: str) -> tuple[object, list[Problem]]:
    """A corrected customer field, typed by the import's validator for that field: the value
    (None for an empty one) and the problems (empty when it may be stored)."""
    f = record_fields.by_name("customers").get(field)
    if f is None:
        return None, [Problem("field", "訂正できない項目です")]
    if not value.strip():
        if f.required:
            return None, [Problem("value", "この項目は空にできません")]
        return None, controls("value", value)
    try:
        return record_rows.parse_cell(f, value, _NO_LABELS), []
    except ValueError as e:
        return None, [Problem("value", str(e))]


def check(spec: spec_mod.CampaignSpec, rules: Rules) -> list[Problem]:
    """Every reason the campaign cannot be saved; empty when it can."""
    problems: list[Problem] = controls("name", spec.name)
    problems += controls("subject_template", spec.subject_template)
    for name in ("text_template", "html_template"):
        problems += controls(name, getattr(spec, name) or "", allow=TEMPLATE_LAYOUT)
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
        except (OutreachError, ValueError):
            problems.append(Problem(name, "テンプレートを解析できません"))
            continue
        except Exception as e:  # jinja2.TemplateSyntaxError and friends
            problems.append(Problem(name, syntax_message(source, e)))
            continue
        problems.extend(_items(name, sorted(used), purpose, rules))
    if not spec.advertising:
        problems.extend(non_advertising_problems(spec, purpose))
    return problems


def syntax_message(source: str, e: Exception) -> str:
    """A template syntax error for staff: the line number and that line, in Japanese."""
    lineno = getattr(e, "lineno", None)
    lines = source.splitlines()
    if isinstance(lineno, int) and 1 <= lineno <= len(lines):
        text = lines[lineno - 1].strip()
        if len(text) > 60:
            text = text[:60] + "…"
        return f"テンプレートの {lineno} 行目（またはその直前）に構文の誤りがあります：「{text}」"
    return "テンプレートに構文の誤りがあります（{{ }} や {% %} の閉じ忘れがないか確認してください）"


SERVICE_NOTICE = "service_notice"


def non_advertising_problems(spec: spec_mod.CampaignSpec, purpose: PurposeView) -> list[Problem]:
    """Why this campaign cannot be sent as not advertising (R14); empty when it can be
    certified so."""
    if purpose.category != SERVICE_NOTICE:
        return [
            Problem(
                "advertising",
                "キャンペーンは広告メール（特定電子メール）です。広告でない連絡として送れるのは、"
                "サービスのお知らせの利用目的（リコール・店舗休業のお知らせなど）だけです (R14)",
            )
        ]
    out = []
    texts = {
        "name": spec.name,
        "subject_template": spec.subject_template,
        "text_template": spec.text_template,
        "html_template": spec.html_template,
    }
    for field, text in texts.items():
        for word, label in wording.promotional([text]):
            out.append(
                Problem(
                    field,
                    f"宣伝の文言「{word}」（{label}）があるため、広告でない連絡にはできません。"
                    "広告メールとして送るか、文言を改めてください (R14)",
                )
            )
    return out


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
        except OutreachError:  # its message names the registry file: not for staff
            out.append(Problem(where, f"「{field}」は使えるデータ項目にありません"))
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


def audience_fields(purpose: PurposeView, rules: Rules) -> list[str]:
    """The audience fields a campaign under `purpose` may filter on: those whose data items
    the purpose covers (a field the registry cannot place is offered under no purpose). The
    one rule behind the console's form and the API's purpose list."""
    out = []
    for name in spec_mod.AUDIENCE_FIELDS:
        try:
            allowed = rules.items_for_fields([name]) <= purpose.items
        except OutreachError:
            allowed = False
        if allowed:
            out.append(name)
    return out


def field_purposes(rules: Rules) -> dict[str, list[str]]:
    """For each audience field, the ids of the purposes it may be filtered on under."""
    allowed = [(p.id, set(audience_fields(p, rules))) for p in rules.purposes()]
    return {
        name: [pid for pid, names in allowed if name in names] for name in spec_mod.AUDIENCE_FIELDS
    }
