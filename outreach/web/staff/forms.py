"""Console form fields ↔ campaign definitions (the console posts forms; the API takes JSON)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.datastructures import FormData

from outreach.clock import JST
from outreach.staff import spec as spec_mod
from outreach.staff.errors import Invalid, Problem

CONDITION_ROWS = 5


def campaign_data(form: FormData) -> dict[str, Any]:
    """The plain data of a campaign form, for `spec.parse` (which reports every problem)."""
    audience = []
    for i in range(CONDITION_ROWS):
        field = str(form.get(f"cond_{i}_field") or "").strip()
        if not field:
            continue
        op = str(form.get(f"cond_{i}_op") or "eq")
        raw = str(form.get(f"cond_{i}_value") or "")
        value: Any = raw.strip()
        if op in ("in", "between"):
            value = [v.strip() for v in raw.replace("、", ",").split(",") if v.strip()]
        audience.append({"field": field, "op": op, "value": value})
    schedule = str(form.get("schedule_at") or "").strip()
    data: dict[str, Any] = {
        "name": str(form.get("name") or ""),
        "purpose": str(form.get("purpose") or ""),
        "channels": [str(c) for c in form.getlist("channels")] or ["email"],
        "audience": audience,
        "subject_template": str(form.get("subject_template") or ""),
        "text_template": str(form.get("text_template") or "").replace("\r\n", "\n"),
        "html_template": str(form.get("html_template") or "").replace("\r\n", "\n"),
        "advertising": form.get("advertising") == "on",
        "schedule_at": schedule or None,
        "recurrence": str(form.get("recurrence") or "").strip() or None,
        "rate_per_second": str(form.get("rate_per_second") or "10"),
    }
    return data


def form_values(s: spec_mod.CampaignSpec | None) -> dict[str, Any]:
    """What a campaign form shows: a saved definition, or the defaults of a new one."""
    if s is None:
        return {
            "name": "",
            "purpose": "p3",
            "channels": ["email"],
            "conditions": [{"field": "", "op": "eq", "value": ""}] * CONDITION_ROWS,
            "subject_template": "{{ customer.name_kanji }}様 ",
            "text_template": "{{ customer.name_kanji }}様\n\n",
            "html_template": "",
            "advertising": True,
            "schedule_at": "",
            "recurrence": "",
            "rate_per_second": 10,
        }
    conditions = [
        {
            "field": c.field,
            "op": c.op,
            "value": ", ".join(map(str, c.value)) if isinstance(c.value, list) else str(c.value),
        }
        for c in s.audience
    ]
    conditions += [{"field": "", "op": "eq", "value": ""}] * (CONDITION_ROWS - len(conditions))
    at = s.schedule_at.astimezone(JST).strftime("%Y-%m-%dT%H:%M") if s.schedule_at else ""
    return {
        "name": s.name,
        "purpose": s.purpose,
        "channels": s.channels,
        "conditions": conditions,
        "subject_template": s.subject_template,
        "text_template": s.text_template,
        "html_template": s.html_template,
        "advertising": s.advertising,
        "schedule_at": at,
        "recurrence": s.recurrence or "",
        "rate_per_second": s.rate_per_second,
    }


def jst(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return value.astimezone(JST).strftime("%Y年%-m月%-d日 %H:%M")
    return value.strftime("%Y年%-m月%-d日")


def local_time(value: str) -> dt.datetime | None:
    """A `datetime-local` field (JST); None when empty. A malformed value is refused."""
    v = value.strip()
    if not v:
        return None
    try:
        parsed = dt.datetime.fromisoformat(v)
    except ValueError:
        raise Invalid([Problem("at", "日時は 2026-01-31T10:00 の形で指定してください")]) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=JST)


def local_value(value: dt.datetime | None) -> str:
    return value.astimezone(JST).strftime("%Y-%m-%dT%H:%M") if value else ""
