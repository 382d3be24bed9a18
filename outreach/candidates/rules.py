"""The reminder rules of config/reminders.toml, validated at load.

A mistake is one `ConfigError` naming the file, the line and the field, e.g.
``config/reminders.toml:58: kinds.shaken.stages[2].months_before: must be an integer >= 0``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outreach import configfile
from outreach.candidates.calendar import BusinessCalendar, add_months
from outreach.errors import ConfigError

KINDS = ("shaken", "inspection", "jibaiseki", "nini")
SUBJECTS = {"shaken": "vehicle", "inspection": "vehicle", "jibaiseki": "policy", "nini": "policy"}
CHANNELS = ("email", "post", "phone")
ENCODINGS = ("utf-8", "cp932")
_FIELD = re.compile(r"^[a-z_]+(\.[a-z_][a-z0-9_]*)+$")


@dataclass(frozen=True)
class Stage:
    name: str
    months_before: int
    days_before: int
    booking: bool
    advertising: bool
    templates: Mapping[str, str]
    # This stage's channel preference order (e.g. the store calls a month before the 車検);
    # empty: the rules' `channels`.
    channels: tuple[str, ...] = ()

    def raw_date(self, due: dt.date) -> dt.date:
        """The stage's nominal date for a due date, before any business-day move."""
        return add_months(due, -self.months_before) - dt.timedelta(days=self.days_before)


@dataclass(frozen=True)
class KindRule:
    kind: str
    label: str
    stages: tuple[Stage, ...]  # earliest stage first
    fields: tuple[str, ...]
    # Stage dates per (due date, booking opening, calendar): many subjects share a due date.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)


@dataclass(frozen=True)
class Rules:
    version: int
    purpose: str
    category: str
    channels: tuple[str, ...]
    catch_up_max_days: int
    booking_lookback_months: int
    chunk_size: int
    calendar: BusinessCalendar
    booking_window_months: int
    post_encoding: str
    channel_fields: Mapping[str, tuple[str, ...]]
    kinds: Mapping[str, KindRule] = field(default_factory=dict)
    source: str = "reminders.toml"

    def fields_for(self, kind: str, channel: str) -> tuple[str, ...]:
        """The dotted fields a reminder of `kind` through `channel` shows (print/call columns)."""
        return self.channel_fields.get(channel, ()) + self.kinds[kind].fields


def load(path: Path) -> Rules:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read reminder rules: {e.strerror}") from e
    doc = configfile.parse(path, text)
    return parse(doc.data, doc)


def parse(data: Mapping[str, Any], where: configfile.Document | None = None) -> Rules:
    loc = where or configfile.Document(Path("reminders.toml"), dict(data), ())
    v = _Validator(loc)
    bd = v.table(data, "business_days", required=False)
    weekends = v.int_list(bd, "business_days.weekends", default=[6, 7], lo=1, hi=7)
    shaken = v.table(data, "shaken", required=False)
    post = v.table(data, "post", required=False)
    phone = v.table(data, "phone", required=False)
    encoding = v.string(post, "post.encoding", default="utf-8")
    if encoding not in ENCODINGS:
        v.fail("post.encoding", f"must be one of {', '.join(ENCODINGS)}")
    channels = tuple(v.str_list(data, "channels", default=list(CHANNELS)))
    for c in channels:
        if c not in CHANNELS:
            v.fail("channels", f"unknown channel {c!r} (known: {', '.join(CHANNELS)})")
    if len(set(channels)) != len(channels) or not channels:
        v.fail("channels", "must list each channel at most once, and at least one")
    window = v.integer(shaken, "shaken.booking_window_months", default=2, lo=0, hi=12)
    kinds_t = v.table(data, "kinds", required=True)
    kinds: dict[str, KindRule] = {}
    for kind, body in kinds_t.items():
        if kind not in KINDS:
            v.fail(f"kinds.{kind}", f"unknown reminder kind (known: {', '.join(KINDS)})")
        kinds[kind] = _kind(v, kind, body, channels, window)
    return Rules(
        version=v.integer(data, "version", default=1, lo=1),
        purpose=v.string(data, "purpose"),
        category=v.string(data, "category", default="service"),
        channels=channels,
        catch_up_max_days=v.integer(data, "catch_up_max_days", default=31, lo=1, hi=366),
        booking_lookback_months=v.integer(data, "booking_lookback_months", default=6, lo=0),
        chunk_size=v.integer(data, "chunk_size", default=2000, lo=1, hi=100_000),
        calendar=BusinessCalendar(
            weekends=frozenset(weekends),
            national_holidays=v.boolean(bd, "business_days.national_holidays", default=True),
        ),
        booking_window_months=window,
        post_encoding=encoding,
        channel_fields={
            "email": (),
            "post": tuple(v.field_list(post, "post.fields")),
            "phone": tuple(v.field_list(phone, "phone.fields")),
        },
        kinds=kinds,
        source=str(loc.path),
    )


def _kind(v: _Validator, kind: str, body: Any, channels: tuple[str, ...], window: int) -> KindRule:
    name = f"kinds.{kind}"
    if not isinstance(body, Mapping):
        v.fail(name, "must be a table")
    stages_raw = body.get("stages")
    if not isinstance(stages_raw, list) or not stages_raw:
        v.fail(f"{name}.stages", "at least one [[stages]] entry is required")
    stages: list[Stage] = []
    for i, s in enumerate(stages_raw):
        p = f"{name}.stages[{i}]"
        if not isinstance(s, Mapping):
            v.fail(p, "must be a table")
        months = v.integer(s, f"{p}.months_before", default=0, lo=0, hi=24)
        days = v.integer(s, f"{p}.days_before", default=0, lo=0, hi=366)
        booking = v.boolean(s, f"{p}.booking", default=False)
        if kind == "shaken" and booking and (months > window or (months == window and days)):
            v.fail(
                f"{p}.months_before",
                f"a booking stage cannot start before the {window}-month inspection window "
                "opens (R31): set booking = false for an advance notice",
            )
        templates = s.get("templates")
        if not isinstance(templates, Mapping):
            v.fail(f"{p}.templates", "must be a table: { email = …, post = …, phone = … }")
        for c in channels:
            t = templates.get(c)
            if not isinstance(t, str) or not t:
                v.fail(f"{p}.templates.{c}", "a template name is required for every channel")
        order = tuple(v.str_list(s, f"{p}.channels", default=[]))
        if any(c not in channels for c in order) or len(set(order)) != len(order):
            v.fail(f"{p}.channels", f"must list channels of {', '.join(channels)}, each once")
        stage_name = v.string(s, f"{p}.name")
        if any(x.name == stage_name for x in stages):
            v.fail(f"{p}.name", f"duplicate stage name {stage_name!r}")
        stages.append(
            Stage(
                name=stage_name,
                months_before=months,
                days_before=days,
                booking=booking,
                advertising=v.boolean(s, f"{p}.advertising", default=booking),
                templates={c: str(templates[c]) for c in channels},
                channels=order,
            )
        )
    # Earliest first: a larger lead is earlier. Compare on a fixed reference due date.
    ref = dt.date(2001, 1, 31)
    stages.sort(key=lambda st: st.raw_date(ref))
    dates = [st.raw_date(ref) for st in stages]
    if len(set(dates)) != len(dates):
        v.fail(f"{name}.stages", "two stages have the same lead time")
    subject = v.string(body, f"{name}.subject", default=SUBJECTS[kind])
    if subject != SUBJECTS[kind]:
        v.fail(f"{name}.subject", f"must be {SUBJECTS[kind]!r} for {kind}")
    return KindRule(
        kind=kind,
        label=v.string(body, f"{name}.label", default=kind),
        stages=tuple(stages),
        fields=tuple(v.field_list(body, f"{name}.fields")),
    )


class _Validator:
    def __init__(self, loc: configfile.Document) -> None:
        self.loc = loc

    def fail(self, dotted: str, message: str) -> Any:
        raise self.loc.error(configfile.parse_field(dotted), message)

    def table(self, data: Mapping[str, Any], key: str, *, required: bool) -> Mapping[str, Any]:
        value = data.get(key)
        if value is None:
            if required:
                self.fail(key, "table is required")
            return {}
        if not isinstance(value, Mapping):
            self.fail(key, "must be a table")
        return dict(value)

    def _get(self, data: Mapping[str, Any], dotted: str) -> Any:
        return data.get(dotted.rsplit(".", 1)[-1])

    def integer(
        self,
        data: Mapping[str, Any],
        dotted: str,
        *,
        default: int | None = None,
        lo: int | None = None,
        hi: int | None = None,
    ) -> int:
        value = self._get(data, dotted)
        if value is None:
            if default is None:
                self.fail(dotted, "is required")
            return default  # type: ignore[return-value]
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(dotted, f"must be an integer, not {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.fail(dotted, f"must be between {lo} and {hi}, not {value}")
        return int(value)

    def boolean(self, data: Mapping[str, Any], dotted: str, *, default: bool) -> bool:
        value = self._get(data, dotted)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(dotted, f"must be true or false, not {value!r}")
        return bool(value)

    def string(self, data: Mapping[str, Any], dotted: str, *, default: str | None = None) -> str:
        value = self._get(data, dotted)
        if value is None:
            if default is None:
                self.fail(dotted, "is required")
            return default  # type: ignore[return-value]
        if not isinstance(value, str) or not value:
            self.fail(dotted, f"must be a non-empty string, not {value!r}")
        return str(value)

    def str_list(self, data: Mapping[str, Any], dotted: str, *, default: list[str]) -> list[str]:
        value = self._get(data, dotted)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            self.fail(dotted, "must be a list of strings")
        return [str(x) for x in value]

    def int_list(
        self, data: Mapping[str, Any], dotted: str, *, default: list[int], lo: int, hi: int
    ) -> list[int]:
        value = self._get(data, dotted)
        if value is None:
            return default
        if not isinstance(value, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi for x in value
        ):
            self.fail(dotted, f"must be a list of integers between {lo} and {hi}")
        return [int(x) for x in value]

    def field_list(self, data: Mapping[str, Any], dotted: str) -> list[str]:
        fields = self.str_list(data, dotted, default=[])
        for f in fields:
            if not _FIELD.match(f):
                self.fail(dotted, f"{f!r} is not a dotted field such as customer.name_kanji")
            if f.startswith("sensitive."):
                self.fail(dotted, f"{f!r} is 要配慮個人情報 and can never be used (R3)")
        return fields
