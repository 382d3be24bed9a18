"""The monthly compliance report as a value: what `report.build` returns, the page, the PDF
and `--json` show. Every label is already the Japanese the document prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Sends:
    purpose: str
    purpose_label: str
    channel: str
    basis: str
    advertising: bool
    count: int


@dataclass(frozen=True, slots=True)
class Optouts:
    source: str
    action: str  # 配信停止 | 利用停止
    count: int


@dataclass(frozen=True, slots=True)
class Denials:
    code: str
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class Evidence:
    basis: str
    current: int
    withdrawn: int


@dataclass(frozen=True, slots=True)
class Provisions:
    direction: str
    basis: str
    counterparty: str
    count: int


@dataclass(frozen=True, slots=True)
class IncidentLine:
    id: int
    title: str
    status: str  # 対応中 | 完了
    discovered: str
    classes: tuple[str, ...]
    affected: int
    notified: int
    reportable: bool
    preliminary_due: str
    final_due: str
    preliminary_done: bool
    final_done: bool
    overdue: tuple[str, ...]  # 速報 and/or 確報 past their deadline


@dataclass(frozen=True, slots=True)
class Requests:
    kind: str
    count: int


@dataclass(frozen=True, slots=True)
class Report:
    month: str
    title: str
    period: str
    generated_at: str
    generated_ja: str
    company: str
    policy_version: int
    sends: tuple[Sends, ...]
    sends_total: int
    optouts: tuple[Optouts, ...]
    optouts_total: int
    optout_effect: str
    ads_after_optout: int
    denials: tuple[Denials, ...]
    denials_total: int
    evidence: tuple[Evidence, ...]
    evidence_without_text: int
    provisions: tuple[Provisions, ...]
    provisions_total: int
    incidents: tuple[IncidentLine, ...]
    incidents_open: int
    requests: tuple[Requests, ...]

    def to_json(self) -> dict[str, Any]:
        """The report as `--json` and /staff/compliance.json give it (tuples as lists)."""
        out: dict[str, Any] = _lists(asdict(self))
        return out


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    return value
