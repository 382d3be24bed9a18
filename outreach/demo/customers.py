"""A demo customer: the record, the email basis, and (through the other makers) the
consent events, vehicles and policies."""

from __future__ import annotations

import datetime as dt

from outreach.demo import lists as L
from outreach.demo.base import BASES, MAIL_DOMAINS, Batch, add_years
from outreach.demo.consent import Consent
from outreach.demo.vehicles import Vehicles
from outreach.gate import ledger


class Customers(Consent, Vehicles):
    """Makes one customer and everything that belongs to them."""

    def _customer(self, out: Batch) -> None:
        rng, today = self.rng, self.today
        cid = self._id("customers")
        last = self._pick(self.last)
        first = self._pick(self.male if rng.random() < 0.6 else self.female)
        pref, city, postal_prefixes, towns, area = self._pick(L.AREAS)
        block = f"{self._int(1, 5)}丁目{self._int(1, 30)}番{self._int(1, 20)}号"
        address = f"{self._pick(towns)}{block}"
        if rng.random() < 0.35:
            address += f" {self._pick(L.BUILDINGS)}{self._int(1, 15)}{self._int(1, 9):02d}"
        if rng.random() < 0.7:
            phone = f"0{self._pick('789')}0-{self._int(1000, 9999)}-{self._int(0, 9999):04d}"
        else:
            rest = 10 - len(area)
            local = f"{self._int(10 ** (rest - 1), 10**rest - 1)}"
            phone = f"{area}-{local[:-4]}-{local[-4:]}"
        email = None
        if rng.random() < 0.88:
            local_part = f"{last[2]}.{first[2]}{cid}".lower()
            email = f"{local_part}@{MAIL_DOMAINS.draw(rng)}"
        acquired = self._day_between(add_years(today, -15), today - dt.timedelta(days=30))
        joint = rng.random() < 0.08
        notice = self.notice
        if acquired < dt.date(2022, 4, 1) and rng.random() < 0.5:  # not re-notified since
            notice = max(1, self.notice - 1)
        status = "active"
        x = rng.random()
        if x < 0.01:
            status = "deceased"
        elif x < 0.03:
            status = "closed"
        store = self._pick(self.stores) if self.stores else None
        events = self._events(cid, acquired, notice, email is not None)
        prefs = ledger.derive(events)
        chain = self._chain(events)
        name = f"{last[0]} {first[0]}"
        out["customers"].append(
            {
                "id": cid,
                "external_id": f"C{cid:07d}",
                "name_kanji": name,
                "name_kana": f"{last[1]} {first[1]}",
                "postal_code": f"{self._pick(postal_prefixes)}-{self._int(0, 9999):04d}",
                "prefecture": pref,
                "city": city,
                "address": address,
                "phone": phone,
                "email": email,
                "birth_date": self._day_between(dt.date(1938, 1, 1), dt.date(2004, 12, 31)),
                "status": status,
                "acquisition": "joint_use" if joint else "direct",
                "joint_use_partner": (
                    partner := self._pick(L.JOINT_USE_PARTNERS) if joint else None
                ),
                # the first two partners' records came via LEXUS TOKYO (in that joint use's
                # scope); the third's did not (out of scope though a LEXUS TOKYO company)
                "acquisition_source": "lexus_tokyo"
                if partner in L.JOINT_USE_PARTNERS[:2]
                else None,
                "acquired_on": acquired,
                "notice_version": notice,
                "store_id": store,
                "customer_since": acquired,
                "last_visit_on": self._day_between(acquired, today),
                "opt_outs": sorted(prefs.opt_outs),
                "use_suspended": prefs.use_suspended,
                "consents": sorted(prefs.consents),
                "ledger_seq": len(events),
                "ledger_head": chain[-1]["hash"] if chain else None,
                "created_at": self.stamp,
                "updated_at": self.stamp,
            }
        )
        out["consent_events"] += chain
        if email is not None:
            self._email_basis(out, cid, email, acquired)
            if rng.random() < 0.02:
                out["suppressions"].append(
                    {
                        "id": self._id("suppressions"),
                        "email": email,
                        "reason": "hard_bounce",
                        "detail": "550 5.1.1 user unknown",
                        "created_at": self._moment(acquired, today),
                    }
                )
        if rng.random() < 0.005:
            out["sensitive_records"].append(
                {
                    "id": self._id("sensitive_records"),
                    "customer_id": cid,
                    "field": "welcab_needs",
                    "value": self._pick(L.WELCAB_NOTES),
                    "consent_at": self._moment(acquired, today),
                    "consent_evidence": "店頭にて書面同意 (要配慮個人情報の取得に関する同意書)",
                    "recorded_by": "staff:demo",
                    "created_at": self.stamp,
                }
            )
        x = rng.random()
        n_vehicles = 0 if x < 0.1 else 1 if x < 0.75 else 2 if x < 0.95 else 3
        for _ in range(n_vehicles):
            self._vehicle(out, cid, name, store)

    def _email_basis(self, out: Batch, cid: int, email: str, acquired: dt.date) -> None:
        rng = self.rng
        basis = BASES.draw(rng)
        if not basis:
            return
        method, shown = {
            "opt_in": ("web_form", "レクサスからのお知らせをメールで受け取る (チェックは任意です)"),
            "written": ("paper_form", "ご注文書のメールアドレス欄 (広告メール送付の旨を記載)"),
            "transaction": (
                "order_contract",
                "ご成約時の取引関係 (特定電子メール法第3条第1項第3号)",
            ),
            "published": ("business_card", "名刺に記載・公表された事業用アドレス"),
        }[basis]
        out["email_bases"].append(
            {
                "id": self._id("email_bases"),
                "customer_id": cid,
                "email": email,
                "basis": basis,
                "evidence_at": self._moment(acquired, acquired + dt.timedelta(days=3)),
                "evidence_method": method,
                "evidence_text": shown,
                "evidence_ref": f"DEMO-{cid}",
                "withdrawn_at": None,
            }
        )
