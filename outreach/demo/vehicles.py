"""The vehicles and insurance policies of a demo customer."""

from __future__ import annotations

import datetime as dt

from outreach.candidates.calendar import add_months
from outreach.clock import JST
from outreach.demo import lists as L
from outreach.demo.base import CARS, INSURERS, Batch, Draws, add_years, shaken_expiry


class Vehicles(Draws):
    """Makes a customer's vehicles, each with its policies."""

    def _vehicle(self, out: Batch, cid: int, name: str, store: int | None) -> None:
        rng, today = self.rng, self.today
        vid = self._id("vehicles")
        car = CARS.draw(rng)
        due_soon = rng.random() < 0.12
        if due_soon:  # expiry within ~100 days: work for the daily run
            target = today + dt.timedelta(days=self._int(1, 100))
            first = add_years(target, -(3 + 2 * self._int(0, 5)))
        else:
            first = self._day_between(add_years(today, -16), today - dt.timedelta(days=20))
        expiry, done = shaken_expiry(first, today - dt.timedelta(days=30))
        years = (
            today.year
            - first.year
            - (1 if add_years(first, today.year - first.year) > today else 0)
        )
        # The latest 12-month inspection (D+1y, D+2y, …) done by today, for most cars (R33).
        last_inspection = add_years(first, years) if years >= 1 and rng.random() < 0.7 else None
        booked = None
        if expiry >= today and (expiry - today).days <= 100 and rng.random() < 0.3:
            booked = self._day_between(today + dt.timedelta(days=1), expiry)
        x = rng.random()
        status = "sold" if x < 0.05 else "scrapped" if x < 0.07 else "owned"
        x = rng.random()
        if x < 0.06:
            owner_kind, owner = "lease", self._pick(L.LEASE_COMPANIES)
        elif x < 0.12:
            owner_kind, owner = "credit", self._pick(L.CREDIT_COMPANIES)
        else:
            owner_kind, owner = "user", name
        number = f"{self._int(1, 99):02d}-{self._int(0, 99):02d}"
        out["vehicles"].append(
            {
                "id": vid,
                "external_id": f"V{vid:07d}",
                "user_id": cid,
                "owner_name": owner,
                "owner_kind": owner_kind,
                "car_name": car,
                "color": self._pick(L.COLORS),
                "model_code": self._pick(self.car_codes[car]),
                "registration_number": (
                    f"{self._pick(L.PLATE_OFFICES)} {self._pick(L.PLATE_CLASSES)} "
                    f"{self._pick(L.PLATE_KANA)} {number}"
                ),
                "first_registered_on": first,
                "shaken_expiry_on": expiry,
                "last_inspection_on": last_inspection,
                "booked_on": booked,
                "status": status,
                "store_id": store,
                "updated_at": self.stamp,
            }
        )
        if status != "owned":
            return
        if rng.random() < 0.9:
            # 自賠責 runs to the next 車検 plus a month (25 or 37 months), ending at 12:00 (R32);
            # a few end before the 車検 does: the coverage-gap detector's cases.
            end = add_months(expiry, 1)
            if rng.random() < 0.03:
                end = expiry - dt.timedelta(days=self._int(5, 40))
            start = add_months(expiry, -(36 if done == 0 else 24))
            self._policy(out, cid, vid, "jibaiseki", start, end, dt.time(12, 0))
        if rng.random() < 0.6:
            if rng.random() < 0.12:
                end = today + dt.timedelta(days=self._int(1, 70))
            else:
                end = today + dt.timedelta(days=self._int(-20, 345))
            self._policy(out, cid, vid, "nini", add_years(end, -1), end, dt.time(16, 0))

    def _policy(
        self,
        out: Batch,
        cid: int,
        vid: int,
        kind: str,
        start: dt.date,
        end: dt.date,
        at: dt.time,
    ) -> None:
        pid = self._id("insurance_policies")
        out["insurance_policies"].append(
            {
                "id": pid,
                "external_id": f"P{pid:07d}",
                "vehicle_id": vid,
                "customer_id": cid,
                "insurer": INSURERS.draw(self.rng),
                "kind": kind,
                "starts_at": dt.datetime.combine(start, at, tzinfo=JST),
                "expires_at": dt.datetime.combine(end, at, tzinfo=JST),
                "expires_on": end,
                "held_as_processor": self.rng.random() < 0.1,
                "updated_at": self.stamp,
            }
        )
