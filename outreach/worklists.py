"""Print batches (post) and call lists (phone) for one run date, written as CSV files.

Post and phone reminders are gated and queued in the outbox like email (channel post or
phone, so the email worker never claims them); the files are views of those outbox rows.
They are rewritten whole from the outbox for the date, so a re-run after a crash yields the
same file, with no duplicate and no missing line. A print file carries only the columns the
notice needs: what goes to the print vendor (an outsourcing contractor) is minimised.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import Customer, InsurancePolicy, OutboxMessage, Run, Store, Vehicle

FOLDERS = {"post": "print", "phone": "calls"}
UNENCODABLE = "〓"  # the geta mark: the conventional stand-in for a character a code page lacks

_TABLES: Mapping[str, Any] = {
    "customer": Customer.__table__,
    "vehicle": Vehicle.__table__,
    "policy": InsurancePolicy.__table__,
    "store": Store.__table__,
}


def columns(fields: Sequence[str]) -> list[Any]:
    """The table columns behind dotted fields (customer.*, vehicle.*, policy.*, store.*)."""
    out = []
    for f in fields:
        top, _, attr = f.partition(".")
        table: Table | None = _TABLES.get(top)
        if table is None or attr not in table.c:
            raise ValueError(f"field {f!r} is not a column of customer, vehicle, policy or store")
        out.append(table.c[attr].label(f))
    return out


async def write(
    session: AsyncSession,
    data_dir: Path,
    run_date: dt.date,
    channel: str,
    fields_for: Mapping[str, Sequence[str]],
    *,
    encoding: str = "utf-8",
) -> list[Path]:
    """Write one CSV per template for the outbox rows of `channel` queued by runs of the date.

    `fields_for` maps a reminder kind to the dotted fields its notice shows. Returns the files.
    """
    o = OutboxMessage.__table__
    runs = select(Run.id).where(Run.run_date == run_date, Run.kind == "daily")
    base = [
        o.c.id.label("reference"),
        o.c.kind,
        o.c.stage,
        o.c.due_on,
        o.c.template,
    ]
    written: list[Path] = []
    by_template: dict[str, list[dict[str, Any]]] = {}
    header: dict[str, list[str]] = {}
    present = select(o.c.kind).where(o.c.channel == channel, o.c.run_id.in_(runs)).distinct()
    kinds = set((await session.execute(present)).scalars())
    for kind, fields in fields_for.items():
        if kind not in kinds:
            continue
        stmt = (
            select(*base, *columns(fields))
            .select_from(o)
            .join(Customer.__table__, Customer.id == o.c.customer_id)
            .outerjoin(Vehicle.__table__, Vehicle.id == o.c.vehicle_id)
            .outerjoin(InsurancePolicy.__table__, InsurancePolicy.id == o.c.policy_id)
            .outerjoin(Store.__table__, Store.id == Customer.store_id)
            .where(o.c.channel == channel, o.c.kind == kind, o.c.run_id.in_(runs))
            .order_by(o.c.id)
        )
        for row in (await session.execute(stmt)).mappings():
            tmpl = str(row["template"])
            header.setdefault(tmpl, ["reference", "kind", "stage", "due_on", *fields])
            by_template.setdefault(tmpl, []).append(dict(row))
    folder = data_dir / FOLDERS[channel]
    folder.mkdir(parents=True, exist_ok=True)
    for tmpl, rows in sorted(by_template.items()):
        path = folder / f"{run_date.isoformat()}_{tmpl}.csv"
        _atomic_write(path, _csv(header[tmpl], rows), encoding)
        written.append(path)
    return written


def _csv(header: list[str], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if r.get(h) is None else str(r[h]) for h in header])
    return buf.getvalue()


def _atomic_write(path: Path, text: str, encoding: str) -> None:
    data = text.encode(encoding, errors="replace")
    if encoding != "utf-8":
        # Replace what the code page lacks with 〓, not "?": staff see it is a stand-in.
        data = "".join(ch if _encodable(ch, encoding) else UNENCODABLE for ch in text).encode(
            encoding
        )
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _encodable(ch: str, encoding: str) -> bool:
    try:
        ch.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True
