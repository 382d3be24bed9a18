"""One letter as the print vendor reads it: Japanese column names and human values.

Only what the notice needs goes to the vendor (an outsourcing contractor, APPI Art. 25):
the address block, the name, the car and the date the notice is about, the store to call.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

from outreach.render import dates

HEADER = (
    "管理番号",
    "郵便番号",
    "住所1",
    "住所2",
    "宛名",
    "敬称",
    "ご案内",
    "お車",
    "登録番号",
    "満了日",
    "保険会社",
    "店舗",
    "店舗電話番号",
)
KINDS = {
    "shaken": ("車検", "車検満了日"),
    "inspection": ("法定12ヶ月点検", "点検期日"),
    "jibaiseki": ("自賠責保険", "保険満期日"),
    "nini": ("任意保険", "保険満期日"),
}
INSURERS = {
    "tokio_marine": "東京海上日動火災保険",
    "aioi_nissay_dowa": "あいおいニッセイ同和損害保険",
    "mitsui_sumitomo": "三井住友海上火災保険",
    "other": "その他の保険会社",
}
HONORIFIC = "様"


@dataclass(frozen=True)
class Letter:
    reference: int
    kind: str
    stage: str | None
    postal_code: str | None
    prefecture: str | None
    city: str | None
    address: str | None
    name: str
    car_name: str | None
    registration_number: str | None
    due_on: dt.date | None
    insurer: str | None
    store: str | None
    store_phone: str | None

    @property
    def postal(self) -> str:
        p = (self.postal_code or "").replace("-", "")
        return f"〒{p[:3]}-{p[3:]}" if len(p) == 7 else (self.postal_code or "")

    @property
    def address1(self) -> str:
        return f"{self.prefecture or ''}{self.city or ''}"

    @property
    def subject(self) -> str:
        label = KINDS.get(self.kind, (self.kind, ""))[0]
        return f"{label}のご案内"

    @property
    def due_label(self) -> str:
        return KINDS.get(self.kind, ("", "期日"))[1]

    @property
    def due_ja(self) -> str:
        return dates.jdate(self.due_on, weekday=False) if self.due_on else ""

    @property
    def insurer_ja(self) -> str:
        return INSURERS.get(self.insurer, self.insurer) if self.insurer else ""

    def cells(self) -> list[str]:
        return [
            str(self.reference),
            self.postal_code or "",
            self.address1,
            self.address or "",
            self.name,
            HONORIFIC,
            self.subject,
            self.car_name or "",
            self.registration_number or "",
            self.due_ja,
            self.insurer_ja,
            self.store or "",
            self.store_phone or "",
        ]


def to_csv(letters: Sequence[Letter]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADER)
    for letter in letters:
        w.writerow(letter.cells())
    return buf.getvalue()
