"""Bookings (入庫予約) and completed services (車検実施) from the DMS, written by the CSV
import (`outreach import bookings|completions FILE`) in the import's batch transaction.

Each event is upserted by its external id and ends its vehicle's reminder cycle:

- a booking moves the vehicle's `booked_on` forward (the daily run then sends no later
  stage of the cycle: candidates.stages.booked);
- a completion moves `last_inspection_on` forward, and for a 車検 the expiry to the new one;
- either cancels the vehicle's queued reminders of that service whose due date the event
  covers (an event within the booking look-back before the due date, or after it).

Every write only moves a date forward and only cancels what is still queued, so importing
the same file again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from outreach.candidates.calendar import add_months
from outreach.db import models
from outreach.records import upsert
from outreach.records.rows import Row

KINDS = {"bookings": "booking", "completions": "completion"}
LOOKBACK_MONTHS = 6  # as config/reminders.toml booking_lookback_months
# The reminder kinds a service's event ends: a 車検 includes the 24-month inspection.
ENDS = {"shaken": ("shaken", "inspection"), "inspection": ("inspection",)}


def db_rows(
    kind: str, good: Sequence[Row], found: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    out = []
    for r in good:
        v = r.values
        vehicle = found["vehicle_external_id"][v["vehicle_external_id"]]
        code = v.get("store_code")
        out.append(
            {
                "external_id": v["external_id"],
                "kind": KINDS[kind],
                "service": v.get("service") or "shaken",
                "vehicle_id": vehicle[0],
                "on_date": v["on_date"],
                "next_expiry_on": v.get("next_expiry_on"),
                "store_id": found["store_code"].get(code) if code else None,
            }
        )
    return out


async def write(
    conn: AsyncConnection, kind: str, rows: list[dict[str, Any]], now: dt.datetime
) -> tuple[upsert.Counts, int]:
    """Upsert the events and apply their effects; (upsert counts, reminders cancelled)."""
    table = models.ServiceEvent.__table__
    for d in rows:
        d["updated_at"] = now
    compare = [c for c in rows[0] if c not in ("external_id", "updated_at")]
    counts = await upsert.upsert(conn, table, rows, key="external_id", compare=compare)  # type: ignore[arg-type]
    V = cast(Table, models.Vehicle.__table__)
    cancelled = 0
    for d in rows:
        vid, on = d["vehicle_id"], d["on_date"]
        if d["kind"] == "booking":
            await conn.execute(
                update(V)
                .where(V.c.id == vid, or_(V.c.booked_on.is_(None), V.c.booked_on < on))
                .values(booked_on=on)
            )
        else:
            await conn.execute(
                update(V)
                .where(
                    V.c.id == vid,
                    or_(V.c.last_inspection_on.is_(None), V.c.last_inspection_on < on),
                )
                .values(last_inspection_on=on)
            )
            new = d["next_expiry_on"]
            if d["service"] == "shaken" and new is not None:
                await conn.execute(
                    update(V)
                    .where(
                        V.c.id == vid,
                        or_(V.c.shaken_expiry_on.is_(None), V.c.shaken_expiry_on < new),
                    )
                    .values(shaken_expiry_on=new)
                )
        cancelled += await cancel_cycle(conn, vid, d["service"], on, reason=d["kind"])
    return counts, cancelled


async def cancel_cycle(
    conn: AsyncConnection, vehicle_id: int, service: str, on: dt.date, *, reason: str
) -> int:
    """Cancel the vehicle's queued reminders of `service` whose cycle the event on `on` ends."""
    o = cast(Table, models.OutboxMessage.__table__)
    due = (
        await conn.execute(
            select(o.c.id, o.c.due_on).where(
                o.c.vehicle_id == vehicle_id,
                o.c.status == "queued",
                o.c.kind.in_(ENDS.get(service, (service,))),
            )
        )
    ).all()
    ids = [i for i, d in due if d is None or on >= add_months(d, -LOOKBACK_MONTHS)]
    if not ids:
        return 0
    res = await conn.execute(
        update(o)
        .where(and_(o.c.id.in_(ids), o.c.status == "queued"))
        .values(status="cancelled", last_error=reason)
        .returning(o.c.id)
    )
    return len(res.all())
