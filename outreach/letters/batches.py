"""Print batches: every queued letter goes into exactly one batch, named after the day it is
prepared (`2026-12-02`, then `2026-12-02-2` once that one was confirmed), written as a CSV
and a PDF under `<data_dir>/print/`. Staff confirm a batch as sent to print; its entries
become `printed` with who and when. Until then a re-run of the day rewrites the same batch
(new letters of the day join it, a letter suppressed since is left out), so the files never
hold a duplicate and never miss a letter.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import clock, outbox
from outreach.db.models import Customer, InsurancePolicy, OutboxMessage, Store, Vehicle
from outreach.letters import columns, pdf
from outreach.staff import audit
from outreach.staff.errors import Invalid, Problem

FOLDER = "print"
UNENCODABLE = "〓"  # the geta mark: the conventional stand-in for a character a code page lacks
NAME = re.compile(r"^\d{4}-\d{2}-\d{2}(-\d{1,4})?$")
OB = OutboxMessage
OPEN = ("queued",)
IN_FILE = ("queued", "printed")


@dataclass(frozen=True)
class Batch:
    name: str
    letters: int
    waiting: int  # not yet confirmed as sent to print
    printed_at: dt.datetime | None
    printed_by: str | None

    @property
    def confirmed(self) -> bool:
        return self.waiting == 0 and self.printed_at is not None


def _name(day: dt.date, n: int) -> str:
    return day.isoformat() if n == 1 else f"{day.isoformat()}-{n}"


async def assign(session: AsyncSession, day: dt.date) -> str | None:
    """Put each queued letter due by the end of `day` and in no batch yet into the day's
    open batch; that batch's name, or None when the day has no open batch."""
    end = clock.jst_midnight(day + dt.timedelta(days=1))
    loose = list(
        (
            await session.scalars(
                select(OB.id).where(
                    OB.channel == "post",
                    OB.status == "queued",
                    OB.print_batch.is_(None),
                    OB.not_before < end,
                )
            )
        ).all()
    )
    n = 1
    while True:
        name = _name(day, n)
        printed = (
            await session.execute(
                select(func.count())
                .select_from(OB)
                .where(OB.print_batch == name, OB.printed_at.is_not(None))
            )
        ).scalar()
        if not printed:
            break
        n += 1
    if loose:
        await session.execute(update(OB).where(OB.id.in_(loose)).values(print_batch=name))
        return name
    exists = (await session.execute(select(OB.id).where(OB.print_batch == name).limit(1))).first()
    return name if exists else None


async def letters_of(
    session: AsyncSession, name: str, fields: Mapping[str, Sequence[str]] | None = None
) -> list[columns.Letter]:
    """The letters of a batch; with `fields` (kind → the fields its notice shows, from
    config/reminders.toml) a kind's letter carries no vehicle or insurer it does not show."""
    q = (
        select(
            OB.id,
            OB.kind,
            OB.stage,
            Customer.postal_code,
            Customer.prefecture,
            Customer.city,
            Customer.address,
            Customer.name_kanji,
            Vehicle.car_name,
            Vehicle.registration_number,
            OB.due_on,
            InsurancePolicy.insurer,
            Store.name,
            Store.phone,
        )
        .join(Customer, Customer.id == OB.customer_id)
        .outerjoin(Vehicle, Vehicle.id == OB.vehicle_id)
        .outerjoin(InsurancePolicy, InsurancePolicy.id == OB.policy_id)
        .outerjoin(Store, Store.id == Customer.store_id)
        .where(OB.print_batch == name, OB.channel == "post", OB.status.in_(IN_FILE))
        .order_by(OB.id)
    )
    out = []
    for r in (await session.execute(q)).all():
        cells: list[Any] = list(r)
        letter = columns.Letter(*cells)
        shown = (fields or {}).get(letter.kind)
        if shown is not None:  # only the items the kind's notice uses go to the vendor
            letter = dataclasses.replace(
                letter,
                car_name=letter.car_name if "vehicle.car_name" in shown else None,
                registration_number=(
                    letter.registration_number if "vehicle.registration_number" in shown else None
                ),
                insurer=letter.insurer if "policy.insurer" in shown else None,
            )
        out.append(letter)
    return out


def paths(data_dir: Path, name: str) -> dict[str, Path]:
    folder = data_dir / FOLDER
    return {"csv": folder / f"{name}.csv", "pdf": folder / f"{name}.pdf"}


def file_of(data_dir: Path, name: str, fmt: str) -> Path | None:
    """The file of a batch for download, or None (never a path outside the print folder)."""
    if not NAME.match(name) or fmt not in ("csv", "pdf"):
        return None
    path = paths(data_dir, name)[fmt]
    return path if path.is_file() else None


async def prepare(
    session: AsyncSession,
    data_dir: Path,
    day: dt.date,
    *,
    encoding: str = "utf-8",
    dealer: str = "",
    fields: Mapping[str, Sequence[str]] | None = None,
) -> list[Path]:
    """Assign the day's letters to its batch and (re)write the batch's CSV and PDF."""
    name = await assign(session, day)
    if name is None:
        return []
    return await write(
        session, data_dir, name, day, encoding=encoding, dealer=dealer, fields=fields
    )


async def write(
    session: AsyncSession,
    data_dir: Path,
    name: str,
    day: dt.date,
    *,
    encoding: str = "utf-8",
    dealer: str = "",
    fields: Mapping[str, Sequence[str]] | None = None,
) -> list[Path]:
    letters = await letters_of(session, name, fields)
    p = paths(data_dir, name)
    p["csv"].parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(p["csv"], columns.to_csv(letters), encoding)
    pdf.write(p["pdf"], letters, dealer=dealer, issued_on=day)
    return [p["csv"], p["pdf"]]


async def overview(session: AsyncSession, *, limit: int = 60) -> list[Batch]:
    waiting = func.sum(case((OB.status == "queued", 1), else_=0))
    q = (
        select(
            OB.print_batch,
            func.count(),
            waiting,
            func.max(OB.printed_at),
            func.max(OB.printed_by),
        )
        .where(OB.print_batch.is_not(None), OB.status.in_(IN_FILE))
        .group_by(OB.print_batch)
        .order_by(OB.print_batch.desc())
        .limit(limit)
    )
    return [
        Batch(name=str(n), letters=int(c), waiting=int(w or 0), printed_at=at, printed_by=by)
        for n, c, w, at, by in await session.execute(q)
    ]


async def confirm(session: AsyncSession, name: str, *, actor: str, now: dt.datetime) -> int:
    """Staff confirm the batch as sent to print: its letters become printed (who, when)."""
    if not NAME.match(name):
        raise Invalid([Problem("batch", "印刷バッチ名が正しくありません")])
    n = await outbox.mark_printed(session, name, actor=actor, now=now)
    if n == 0:
        raise Invalid([Problem("batch", f"印刷バッチ {name} に未確定のご案内状はありません")])
    await audit.record(
        session,
        actor=actor,
        action="letters.printed",
        entity="print_batch",
        entity_id=name,
        now=now,
        after={"letters": n},
    )
    return n


def _atomic_write(path: Path, text: str, encoding: str) -> None:
    if encoding == "utf-8":
        data = text.encode("utf-8")
    else:
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
