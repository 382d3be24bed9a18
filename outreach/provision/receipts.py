"""Receipt records (Art. 30, R5) written by the import for data that came from another
company: joint-use data, and third-party data outside the joint use.

The record names the provider, how the provider obtained the data (the route and the joint
use it came by), the items received, and the date. One per person and provider: a re-run of
the same file adds nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from outreach.db.models import ProvisionRecord
from outreach.gate import purposes
from outreach.provision import records


async def on_import(
    conn: AsyncConnection,
    reg: purposes.Registry,
    rows: Sequence[Mapping[str, Any]],
    ids: Mapping[str, int],
    *,
    now: dt.datetime,
    file_name: str,
) -> int:
    """Write the receipt of every imported row that came from another company."""
    received = [
        r for r in rows if r.get("acquisition") == "joint_use" and r.get("external_id") in ids
    ]
    if not received:
        return 0
    cids = [ids[r["external_id"]] for r in received]
    t = ProvisionRecord.__table__.c
    seen = {
        (cid, party)
        for cid, party in await conn.execute(
            select(t.customer_id, t.counterparty).where(
                t.direction == records.RECEIVE, t.customer_id.in_(cids)
            )
        )
    }
    entries = []
    for r, cid in zip(received, cids, strict=True):
        partner = str(r.get("joint_use_partner") or "")
        if (cid, partner) in seen or not partner:
            continue
        source = r.get("acquisition_source")
        groups = [g for g in reg.joint_use.groups if g.covers(partner, source)]
        marks = reg.joint_use_marks_of_fields(f"customer.{k}" for k, v in r.items() if v)
        if groups:
            how = f"共同利用（{groups[0].label}）により提供元から取得"
            basis = "joint_use"
        else:
            how = "共同利用の範囲外の会社から取得（提供元の取得経緯と本人同意の確認が必要）"
            basis = "third_party"
        if source:
            how += f"／取得経路: {source}"
        entries.append(
            records.Entry(
                direction=records.RECEIVE,
                counterparty=partner,
                customer_id=cid,
                items=tuple(marks) or ("①",),
                basis=basis,
                at=now,
                detail={
                    "obtained_by": how,
                    "acquired_on": str(r.get("acquired_on") or ""),
                    "item_labels": [f"{m} {reg.joint_use.items[m]}" for m in marks],
                    "file": file_name,
                },
            )
        )
    return await records.write(conn, entries)
