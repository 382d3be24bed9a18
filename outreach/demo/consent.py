"""The consent events of a demo customer, hash-chained as `gate.ledger` does."""

from __future__ import annotations

import datetime as dt
from typing import Any

from outreach.demo.base import Draws
from outreach.gate import ledger


class Consent(Draws):
    """Makes a customer's consent events and chains them."""

    def _events(
        self, cid: int, acquired: dt.date, notice: int, has_email: bool
    ) -> list[ledger.Event]:
        """This customer's consent history (unchained): every scope kind the gate knows."""
        rng, today = self.rng, self.today
        plan: list[tuple[str, str, str, str]] = []  # action, scope, source, actor
        if rng.random() < 0.10:
            plan.append(("grant", "insurer_share:dealer", "store", "staff:demo"))
        if notice < self.notice and self.new_purpose and rng.random() < 0.3:
            plan.append(("grant", f"purpose:{self.new_purpose}", "preference_page", "customer"))
        x = rng.random()
        opt_scopes = (
            (0.03, "all"),
            (0.07, "category:marketing"),
            (0.10, "channel:email"),
            (0.12, "purpose:p3"),
            (0.14, "kind:shaken"),
        )
        for bound, scope in opt_scopes:
            if x < bound:
                source = self._pick(("link", "one_click", "preference_page", "phone"))
                if not has_email and source != "phone":
                    source = "phone"
                actor = "customer" if source != "phone" else "staff:demo"
                plan.append(("opt_out", scope, source, actor))
                break
        x = rng.random()
        if x < 0.01:  # opted out, then changed their mind
            plan += [
                ("opt_out", "category:marketing", "link", "customer"),
                ("resubscribe", "category:marketing", "preference_page", "customer"),
            ]
        elif x < 0.02:
            plan.append(("cessation", "all", "phone", "staff:demo"))
        elif x < 0.025:
            plan += [
                ("cessation", "all", "store", "staff:demo"),
                ("reinstate", "all", "store", "staff:demo"),
            ]
        if not plan:
            return []
        moments = sorted(self._moment(acquired, today) for _ in plan)
        events: list[ledger.Event] = []
        prefs = ledger.Prefs()
        for (action, scope, source, actor), at in zip(plan, moments, strict=True):
            e = ledger.Event(
                customer_id=cid,
                seq=len(events) + 1,
                action=action,
                scope=scope,
                source=source,
                actor=actor,
                occurred_at=at,
                legal_basis="opt_in"
                if action == "grant" and scope.startswith("purpose:")
                else None,
                evidence={"note": "デモデータ"},
            )
            if ledger.changes(prefs, e):  # the ledger records no event that changes nothing
                events.append(e)
                prefs = ledger.apply(prefs, e)
        return events

    def _chain(self, events: list[ledger.Event]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        prev: str | None = None
        for e in events:
            h = ledger.event_hash(prev, e)
            rows.append(
                {
                    "id": self._id("consent_events"),
                    "customer_id": e.customer_id,
                    "seq": e.seq,
                    "action": e.action,
                    "scope": e.scope,
                    "legal_basis": e.legal_basis,
                    "evidence": e.evidence,
                    "source": e.source,
                    "actor": e.actor,
                    "occurred_at": e.occurred_at,
                    "prev_hash": prev,
                    "hash": h,
                }
            )
            prev = h
        return rows
