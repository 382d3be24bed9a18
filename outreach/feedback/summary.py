"""The DMARC summary per JST day and sending source (R24): how many messages each source sent
for our domains, how many passed DMARC through aligned DKIM or aligned SPF, how many failed
both; a source seen for the first time that day is marked `new`, so a new sender that breaks
alignment (a forgotten newsletter service, a spoofer) stands out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import DmarcRow


@dataclass(frozen=True, slots=True)
class DaySource:
    day: dt.date
    source_ip: str
    domain: str  # header_from
    messages: int
    dkim_pass: int  # aligned DKIM passed
    spf_pass: int  # aligned SPF passed
    failed: int  # neither passed: DMARC fail
    reporters: str  # org names, comma-separated
    new: bool  # first seen this day

    @property
    def passed(self) -> int:
        return self.messages - self.failed

    def as_dict(self) -> dict[str, object]:
        return {
            "day": self.day.isoformat(),
            "source_ip": self.source_ip,
            "domain": self.domain,
            "messages": self.messages,
            "dkim_pass": self.dkim_pass,
            "spf_pass": self.spf_pass,
            "failed": self.failed,
            "reporters": self.reporters,
            "new": self.new,
        }


async def dmarc(session: AsyncSession, first: dt.date, last: dt.date) -> list[DaySource]:
    """Rows from `first` to `last` (inclusive), newest day first, most messages first."""
    r = DmarcRow
    both_fail = (r.dkim != "pass") & (r.spf != "pass")
    rows = (
        await session.execute(
            select(
                r.day,
                r.source_ip,
                r.header_from,
                func.sum(r.count),
                func.sum(case((r.dkim == "pass", r.count), else_=0)),
                func.sum(case((r.spf == "pass", r.count), else_=0)),
                func.sum(case((both_fail, r.count), else_=0)),
            )
            .where(r.day >= first, r.day <= last)
            .group_by(r.day, r.source_ip, r.header_from)
        )
    ).all()
    firsts = dict(
        (await session.execute(select(r.source_ip, func.min(r.day)).group_by(r.source_ip))).all()
    )
    orgs: dict[tuple[dt.date, str], set[str]] = {}
    for day, ip, org in (
        await session.execute(
            select(r.day, r.source_ip, r.org_name).where(r.day >= first, r.day <= last).distinct()
        )
    ).all():
        orgs.setdefault((day, ip), set()).add(org)
    out = [
        DaySource(
            day=day,
            source_ip=ip,
            domain=domain,
            messages=int(n or 0),
            dkim_pass=int(dk or 0),
            spf_pass=int(sp or 0),
            failed=int(fail or 0),
            reporters=", ".join(sorted(orgs.get((day, ip), ()))),
            new=firsts.get(ip) == day,
        )
        for day, ip, domain, n, dk, sp, fail in rows
    ]
    out.sort(key=lambda d: (-d.day.toordinal(), -d.messages, d.source_ip))
    return out
