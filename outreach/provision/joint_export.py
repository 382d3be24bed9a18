"""`outreach export joint-use --to GROUP`: the joint-use items ①–⑧ of in-scope customers to
one group of joint users, and the provision record of every person in it (R4, R5).

In scope: an active customer whose use is not stopped, who was shown a policy version that
already named the joint use and the group (R2), whose data the group may receive (a group
limited to one acquisition source gets only data obtained that way), and, for data we got by
joint use ourselves, only within the same joint use. Only fields filed under an item ①–⑧
are written; nothing sensitive, no insurance data, no visit history.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.clock import JST
from outreach.db.models import Customer, Vehicle
from outreach.errors import ConfigError, InputRejected
from outreach.gate import purposes
from outreach.provision import exportfile, records

_MODELS = {"customer": Customer, "vehicle": Vehicle}


Result = exportfile.Result


def export_fields(reg: purposes.Registry) -> list[tuple[str, str, str]]:
    """(field, item id, mark) of every field filed under a joint-use item, in item order."""
    out = []
    for item in reg.items.values():
        if item.joint_use is None or item.sensitive or item.insurer_partitioned:
            continue
        for f in item.fields:
            if f.endswith(".*"):
                continue
            out.append((f, item.id, item.joint_use))
    return sorted(out, key=lambda t: (t[2], t[0].split(".")[0] != "customer"))


def scope(reg: purposes.Registry, group: purposes.JointUseGroup) -> Any:
    """The customers the group may receive, as a condition on the customers table."""
    c = Customer.__table__.c
    notice = max(group.since_version, reg.joint_use.since_version)
    conds = [c.status == "active", c.use_suspended.is_(False), c.notice_version >= notice]
    if group.source is not None:
        conds.append(c.acquisition_source == group.source)
    # Data we received by joint use goes on only within the joint use it came by.
    partners = [group.id, *group.members]
    conds.append(or_(c.acquisition != "joint_use", c.joint_use_partner.in_(partners)))
    return and_(*conds)


async def run(
    session: AsyncSession,
    reg: purposes.Registry,
    group_id: str,
    out: Path,
    *,
    now: dt.datetime,
    actor: str,
) -> Result:
    group = reg.joint_use.group(group_id)
    published = reg.published_on(max(group.since_version, reg.joint_use.since_version))
    if published is None or published > now.astimezone(JST).date():
        raise ConfigError(
            f"the joint use with {group_id} is not yet published (R4: notice first); "
            "see [versions] in purposes.toml"
        )
    chosen = export_fields(reg)
    if not chosen:
        raise ConfigError("no field is filed under a joint-use item ①–⑧ in purposes.toml")
    cols = [
        getattr(_MODELS[f.split(".")[0]], f.split(".")[1]).label(f.replace(".", "__"))
        for f, _, _ in chosen
    ]
    q = (
        select(Customer.id, *cols)
        .select_from(Customer)
        .outerjoin(Vehicle, and_(Vehicle.user_id == Customer.id, Vehicle.status == "owned"))
        .where(scope(reg, group))
        .order_by(Customer.id, Vehicle.id)
    )
    rows = (await session.execute(q)).all()
    if not rows:
        raise InputRejected(f"no customer is in scope for the joint use with {group_id}")
    staged = exportfile.stage(
        out,
        [f"{mark} {f}" for f, _, mark in chosen],
        (["" if v is None else str(v) for v in r[1:]] for r in rows),
        prefix="JU",
        now=now,
    )
    batch = staged.batch
    customers = sorted({r[0] for r in rows})
    marks = sorted({m for _, _, m in chosen})
    labels = [f"{m} {reg.joint_use.items[m]}" for m in marks]
    counterparty = f"{group.label}：{'、'.join(group.members)}"
    entries = [
        records.Entry(
            direction=records.PROVIDE,
            counterparty=counterparty,
            customer_id=cid,
            items=tuple(marks),
            basis="joint_use",
            at=now,
            detail={
                "group": group.id,
                "batch": batch,
                "item_labels": labels,
                "responsible": reg.joint_use.responsible_name,
                "file": out.name,
            },
        )
        for cid in customers
    ]
    return await exportfile.finish(
        session,
        staged,
        entries,
        action="export.joint_use",
        recipient=("group", group.id),
        rows=len(rows),
        fields=tuple(f for f, _, _ in chosen),
        actor=actor,
        now=now,
    )
