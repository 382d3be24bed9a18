"""A campaign's definition as staff write it (console form, JSON API, campaign.toml), and the
catalogue of audience-filter fields. Pure: no database, no web.

The audience is declarative: a list of conditions that all must hold, each on one field of
the template data convention (`vehicle.car_name`, `customer.prefecture`, …).
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from outreach.clock import JST
from outreach.errors import ConfigError
from outreach.staff.errors import Invalid, Problem

Op = Literal["eq", "in", "between", "gte", "lte"]


@dataclass(frozen=True, slots=True)
class FieldInfo:
    label: str  # Japanese label shown in the console
    kind: Literal["str", "date"]


# The audience fields staff may filter on. Which of them a campaign may use is decided by its
# purpose's data items (the registry); `sensitive.*` fields are never filterable.
AUDIENCE_FIELDS: dict[str, FieldInfo] = {
    "vehicle.car_name": FieldInfo("車名", "str"),
    "vehicle.model_code": FieldInfo("型式", "str"),
    "vehicle.color": FieldInfo("塗色", "str"),
    "vehicle.first_registered_on": FieldInfo("初度登録年月日", "date"),
    "vehicle.shaken_expiry_on": FieldInfo("車検満了日", "date"),
    "customer.prefecture": FieldInfo("都道府県", "str"),
    "customer.city": FieldInfo("市区町村", "str"),
    "customer.last_visit_on": FieldInfo("最終来店日", "date"),
    "customer.customer_since": FieldInfo("取引開始日", "date"),
    "policy.insurer": FieldInfo("保険会社", "str"),
    "policy.kind": FieldInfo("保険種別", "str"),
    "policy.expires_on": FieldInfo("保険満期日", "date"),
}

SENSITIVE_PREFIX = "sensitive."
CRON = re.compile(r"^\S+(\s+\S+){4}$")


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="Dotted field, e.g. vehicle.car_name")
    op: Op = Field(description="eq, in (list), between ([from, to]), gte, lte")
    value: Any = Field(description="A string/date, a list for `in`, a pair for `between`")


class CampaignSpec(BaseModel):
    """Everything staff define about a campaign; the schedule is in Asia/Tokyo."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=16)
    category: str | None = Field(None, max_length=32, description="Defaults to the purpose's")
    channels: list[str] = Field(default_factory=lambda: ["email"], min_length=1)
    audience: list[Condition] = Field(default_factory=list)
    subject_template: str = Field(min_length=1, max_length=2000)
    text_template: str = Field(min_length=1, max_length=100_000)
    html_template: str = Field("", max_length=200_000)
    advertising: bool = True
    schedule_at: dt.datetime | None = Field(None, description="Naive values are JST")
    recurrence: str | None = Field(None, description="cron, 5 fields, Asia/Tokyo")
    rate_per_second: float = Field(10.0, gt=0, le=1000)

    @field_validator("schedule_at")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            return v.replace(tzinfo=JST)
        return v

    @field_validator("recurrence")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None and v.strip() and not CRON.match(v.strip()):
            raise ValueError("cron は5項目（分 時 日 月 曜日）で指定してください")
        return v.strip() or None if v is not None else None

    @model_validator(mode="after")
    def _no_control_characters(self) -> CampaignSpec:
        if _has_nul(self.model_dump(mode="json")):
            raise ValueError("NUL 文字は使えません")
        return self

    def fields(self) -> frozenset[str]:
        return frozenset(c.field for c in self.audience)

    def snapshot(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _has_nul(v: Any) -> bool:
    if isinstance(v, str):
        return "\x00" in v
    if isinstance(v, dict):
        return any(_has_nul(k) or _has_nul(x) for k, x in v.items())
    if isinstance(v, list):
        return any(_has_nul(x) for x in v)
    return False


def parse(data: dict[str, Any]) -> CampaignSpec:
    """A spec from plain data; pydantic's errors become Problems with Japanese messages."""
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as e:
        raise Invalid(
            [
                Problem(".".join(str(p) for p in err["loc"]) or "-", _message(err))
                for err in e.errors()
            ]
        ) from None


def _message(err: Any) -> str:
    return japanese(err)


def japanese(err: Any) -> str:
    """One pydantic error in Japanese (no English, no internals): by its type and context."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "必須項目です"
    if kind == "extra_forbidden":
        return "この項目は使えません"
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return "入力してください" if n == 1 else f"{n}文字以上で入力してください"
    if kind == "string_too_long":
        return f"{ctx.get('max_length')}文字以内で入力してください"
    if kind in ("too_short", "too_long"):
        if kind == "too_short":
            return f"{ctx.get('min_length', 1)}つ以上選んでください"
        return f"{ctx.get('max_length')}件以内にしてください"
    if kind == "string_pattern_mismatch":
        return "使えない文字が含まれています"
    if kind in ("string_type", "str_type"):
        return "文字で入力してください"
    if kind.startswith(("int_", "float_")) and kind.endswith(("_parsing", "_type")):
        return "数値で入力してください"
    if kind == "greater_than":
        return f"{ctx.get('gt')}より大きい値を入力してください"
    if kind == "greater_than_equal":
        return f"{ctx.get('ge')}以上の値を入力してください"
    if kind == "less_than":
        return f"{ctx.get('lt')}より小さい値を入力してください"
    if kind == "less_than_equal":
        return f"{ctx.get('le')}以下の値を入力してください"
    if kind.startswith("datetime") or kind.startswith("date"):
        return "日時は 2026-01-31T10:00 の形で入力してください"
    if kind == "bool_parsing" or kind == "bool_type":
        return "はい・いいえで指定してください"
    if kind in ("literal_error", "enum"):
        return "選べる値のどれかを指定してください"
    if kind in ("list_type", "dict_type", "model_type", "model_attributes_type"):
        return "形式が正しくありません"
    if kind == "json_invalid":
        return "JSON として読めません"
    if kind == "value_error":
        msg = str(ctx.get("error", "") or err.get("msg", ""))
        msg = msg.removeprefix("Value error, ")
        if msg and not msg.isascii():
            return msg  # our own validators' messages are Japanese
    return "値が正しくありません"


def load_file(path: Path) -> CampaignSpec:
    """`campaign.toml`: top-level keys of CampaignSpec; `[[audience]]` tables for conditions."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    return parse(data)


def check_condition(c: Condition) -> list[Problem]:
    """Shape of one condition: a known field, and values of the right kind for its op."""
    where = f"audience.{c.field}"
    if c.field.startswith(SENSITIVE_PREFIX):
        return [Problem(where, "要配慮個人情報は抽出条件に使えません")]
    info = AUDIENCE_FIELDS.get(c.field)
    if info is None:
        return [Problem(where, "抽出条件に使えない項目です")]
    values: list[Any]
    if c.op == "in":
        if not isinstance(c.value, list) or not c.value:
            return [Problem(where, "in には1つ以上の値のリストを指定してください")]
        values = c.value
    elif c.op == "between":
        if not isinstance(c.value, list) or len(c.value) != 2:
            return [Problem(where, "between には [開始, 終了] を指定してください")]
        values = c.value
    else:
        values = [c.value]
    for v in values:
        if info.kind == "date":
            if _as_date(v) is None:
                return [Problem(where, f"日付（YYYY-MM-DD）ではありません: {v!r}")]
        elif not isinstance(v, str) or not v or len(v) > 200:
            return [Problem(where, f"文字列を指定してください: {v!r}")]
    return []


def _as_date(v: Any) -> dt.date | None:
    if isinstance(v, dt.datetime):
        return None
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            return None
    return None


def date_value(v: Any) -> dt.date:
    d = _as_date(v)
    if d is None:
        raise ValueError(f"not a date: {v!r}")
    return d
