"""Validating one CSV record against its kind's fields: every problem, not just the first.

Pure: references (customer, vehicle, store) are checked later against the database, in the
batch that writes the row; here they are only checked for form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from outreach.records import fields, validate
from outreach.records.csvfile import Record
from outreach.records.mappings import Columns, Mapping


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    column: str  # the header as written in the file, or "" for the whole row
    reason: str


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    values: dict[str, Any]  # only the fields the file carries; None for an empty cell


def parse_cell(f: fields.Field, cell: str, mapping: Mapping) -> Any:
    """One non-empty cell through its field's validator: the typed value or ValueError."""
    if f.type in ("text", "ref"):
        return validate.text(cell, max_len=f.max_len)
    if f.type == "kana":
        return validate.kana(cell, max_len=f.max_len)
    if f.type == "choice":
        return validate.choice(cell, mapping.labels.get(f.name, {}))
    simple = {
        "date": validate.date,
        "year_month": validate.year_month,
        "postal": validate.postal_code,
        "email": validate.email,
        "phone": validate.phone,
        "int": validate.integer,
        "bool": validate.boolean,
        "datetime": validate.datetime_jst,
    }
    return simple[f.type](cell)


def check(record: Record, mapping: Mapping, columns: Columns) -> Row | list[Problem]:
    """The typed row, or every problem found in it."""
    line = record.line
    if record.error:
        return [Problem(line, "", record.error)]
    width = len(columns.headers)
    if len(record.cells) < width:
        why = "ファイルが行の途中で終わっています" if not record.complete else "列が不足しています"
        return [Problem(line, "", f"{why} ({len(record.cells)}列/{width}列)")]
    if len(record.cells) > width:
        return [Problem(line, "", f"列が多すぎます ({len(record.cells)}列/{width}列)")]
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    known = fields.by_name(mapping.kind)
    for name, pos in sorted(columns.index.items(), key=lambda kv: kv[1]):  # file order
        f = known[name]
        header = columns.headers[pos].strip()
        cell = record.cells[pos]
        if not cell.strip():
            if f.required:
                problems.append(Problem(line, header, "必須項目が空です"))
            values[f.name] = f.default
            continue
        try:
            values[f.name] = parse_cell(f, cell, mapping)
        except ValueError as e:
            problems.append(Problem(line, header, str(e)))
    problems += _cross_checks(line, values, mapping, columns)
    return problems or Row(line, values)


def _header(mapping: Mapping, columns: Columns, name: str) -> str:
    pos = columns.index.get(name)
    return columns.headers[pos].strip() if pos is not None else mapping.header_for(name)


def _cross_checks(
    line: int, v: dict[str, Any], mapping: Mapping, columns: Columns
) -> list[Problem]:
    out: list[Problem] = []

    def bad(name: str, reason: str) -> None:
        out.append(Problem(line, _header(mapping, columns, name), reason))

    if mapping.kind == "customers":
        if v.get("acquisition") == "joint_use" and not v.get("joint_use_partner"):
            bad("joint_use_partner", "共同利用で取得した顧客には共同利用元が必要です")
        if v.get("email_basis"):
            if not v.get("email"):
                bad("email_basis", "メールアドレスがないのに配信根拠があります")
            for name in ("email_basis_at", "email_basis_method", "email_basis_text"):
                if not v.get(name):
                    bad(name, "配信根拠には同意の記録 (日時・方法・文言) が必要です")
    if mapping.kind == "policies":
        if not v.get("customer_external_id") and not v.get("vehicle_external_id"):
            bad("customer_external_id", "顧客番号か車両管理番号のどちらかが必要です")
        start, end = v.get("starts_on"), v.get("expires_on")
        if start and end and start >= end:
            bad("expires_on", "満期日が始期日より前です")
    if mapping.kind == "completions":
        if v.get("service", "shaken") == "shaken" and not v.get("next_expiry_on"):
            bad("next_expiry_on", "車検の実施には新しい車検満了日が必要です")
        if v.get("next_expiry_on") and v.get("on_date") and v["next_expiry_on"] <= v["on_date"]:
            bad("next_expiry_on", "新しい車検満了日が実施日より前です")
    return out
