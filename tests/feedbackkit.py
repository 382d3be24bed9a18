"""Helpers for the feedback tests: customers with their sent mails, report Maildirs."""

from __future__ import annotations

import datetime as dt
import mailbox
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from outreach import bootstrap
from outreach.db.models import Customer, EmailBasis, OutboxMessage

FIX = Path(__file__).resolve().parent / "fixtures" / "feedback"
T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)  # 19:00 JST


def fixture(name: str) -> bytes:
    return (FIX / name).read_bytes()


def variant(name: str, n: int, **replace: str) -> bytes:
    """The fixture as another mail: its own report Message-Id (so its own content key),
    and any text replaced."""
    raw = fixture(name).decode()
    for old, new in replace.items():
        raw = raw.replace(old, new)
    return raw.replace("Message-I", f"X-Variant: {n}\nMessage-I", 1).encode()


def maildir(path: Path, *mails: bytes) -> Path:
    box = mailbox.Maildir(path, create=True)
    for m in mails:
        box.add(m)
    return path


async def customer(app: bootstrap.App, email: str, *, opt_in: bool = True, **kw: Any) -> int:
    async with app.sessions.begin() as s:
        n = await s.scalar(select(Customer.id).order_by(Customer.id.desc()).limit(1)) or 0
        cid = int(
            (
                await s.execute(
                    insert(Customer)
                    .values(
                        external_id=f"F{n + 1:07d}",
                        name_kanji="山田 太郎",
                        email=email,
                        postal_code="1000001",
                        address="千代田区1-1",
                        created_at=T0,
                        updated_at=T0,
                        **kw,
                    )
                    .returning(Customer.id)
                )
            ).scalar_one()
        )
        if opt_in:
            s.add(
                EmailBasis(
                    customer_id=cid,
                    email=email,
                    basis="opt_in",
                    evidence_at=T0,
                    evidence_method="web_form",
                    evidence_text="メールでのご案内を希望します",
                )
            )
    return cid


async def sent(
    app: bootstrap.App,
    customer_id: int,
    message_id: str,
    *,
    advertising: bool = True,
    at: dt.datetime = T0,
    to: str | None = None,
) -> int:
    async with app.sessions.begin() as s:
        return int(
            (
                await s.execute(
                    insert(OutboxMessage)
                    .values(
                        idempotency_key=f"test:{message_id}",
                        customer_id=customer_id,
                        purpose="p3" if advertising else "p2",
                        category="marketing" if advertising else "service_notice",
                        channel="email",
                        kind="campaign" if advertising else "shaken",
                        template="campaign_winter_tires",
                        items=["name"],
                        advertising=advertising,
                        status="sent",
                        not_before=at,
                        attempts=1,
                        to_address=to,
                        message_id=message_id,
                        created_at=at,
                        sent_at=at,
                    )
                    .returning(OutboxMessage.id)
                )
            ).scalar_one()
        )
