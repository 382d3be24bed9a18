"""R12 on both databases: an incident's classes and its 速報/確報 deadlines from discovery,
wrong-recipient mail recorded from the send log in one step, notices by letter batch,
reports, and the history."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from outreach import bootstrap
from outreach.clock import JST
from outreach.db.models import Customer, IncidentSubject, OutboxMessage
from outreach.errors import InputRejected
from outreach.incidents import classes, register

REPO = Path(__file__).resolve().parents[2]
RULES = classes.load(REPO / "config" / "incidents.toml")
FOUND = dt.datetime(2026, 3, 2, 23, 30, tzinfo=JST)  # late on 2 March (JST), 14:30 UTC
NOW = dt.datetime(2026, 3, 3, 9, 0, tzinfo=JST)


async def customers(app: bootstrap.App, n: int) -> list[int]:
    async with app.sessions() as s:
        start = (await s.scalar(select(Customer.id).order_by(Customer.id.desc()).limit(1))) or 0
        await s.execute(
            insert(Customer),
            [
                {
                    "external_id": f"I{start + i:06d}",
                    "name_kanji": "髙橋 一郎",
                    "postal_code": "1000001",
                    "prefecture": "東京都",
                    "city": "千代田区",
                    "address": "1-1",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(n)
            ],
        )
        await s.commit()
        return list(
            await s.scalars(select(Customer.id).where(Customer.id > start).order_by(Customer.id))
        )


async def test_a_1001_person_incident_has_both_deadlines(app: bootstrap.App) -> None:
    people = await customers(app, 1001)
    async with app.sessions() as s:
        inc = await register.record(
            s,
            RULES,
            title="顧客リストを含むUSBメモリの紛失",
            discovered_at=FOUND,
            customer_ids=people,
            items=["name", "address"],
            actor="staff:test",
            now=NOW,
        )
        d = await register.describe(s, inc.id)
    assert d.classes == ("over_1000",) and d.reportable and d.affected == 1001
    # counted from the JST day of discovery (2 March), not the UTC day
    assert d.preliminary_due_on == "2026-03-05"
    assert d.final_due_on == "2026-04-01"
    assert [h.action for h in d.history] == ["incident.recorded"]


async def test_1000_people_without_a_class_is_not_reportable(app: bootstrap.App) -> None:
    people = await customers(app, 1000)
    async with app.sessions() as s:
        inc = await register.record(
            s, RULES, title="紛失", discovered_at=FOUND, customer_ids=people, items=["name"],
            actor="t", now=NOW,
        )  # fmt: skip
    assert not inc.reportable and inc.preliminary_due_on is None and inc.final_due_on is None


@pytest.mark.parametrize(
    ("cls", "final"), [("sensitive", "2026-04-01"), ("financial", "2026-04-01"),
                       ("wrongful", "2026-05-01")],
)  # fmt: skip
async def test_one_person_is_reportable_in_classes_i_to_iii(
    app: bootstrap.App, cls: str, final: str
) -> None:
    (one,) = await customers(app, 1)
    async with app.sessions() as s:
        inc = await register.record(
            s, RULES, title="不正アクセス", discovered_at=FOUND, customer_ids=[one],
            items=["name"], classes=[cls], actor="t", now=NOW,
        )  # fmt: skip
    assert inc.reportable and inc.classes == [cls]
    assert str(inc.final_due_on) == final  # 60 days for a wrongful purpose


async def test_wrong_recipient_mail_from_the_send_log_then_letters_reports_close(
    app: bootstrap.App, tmp_path: Path
) -> None:
    (victim,) = await customers(app, 1)
    sent_at = dt.datetime(2026, 3, 2, 10, 0, tzinfo=JST)
    async with app.sessions() as s:
        oid = (
            await s.execute(
                insert(OutboxMessage)
                .values(
                    idempotency_key="k-wrong-1", customer_id=victim, purpose="p2",
                    category="service_notice", channel="email", kind="shaken",
                    template="reminder_shaken_1", items=["name", "vehicle"], status="sent",
                    not_before=sent_at, created_at=sent_at, sent_at=sent_at,
                    to_address="someone-else@example.jp",
                )
                .returning(OutboxMessage.id)
            )
        ).scalar_one()  # fmt: skip
        await s.commit()
        inc = await register.from_send_log(
            s, RULES, oid, discovered_at=FOUND, note="別のお客様に届いた", actor="staff:a", now=NOW
        )
    assert inc.source == f"outbox:{oid}" and inc.occurred_at == sent_at
    assert inc.items == ["name", "vehicle"] and inc.affected_count == 1
    assert inc.title.startswith("誤送信")
    # a one-person wrong-recipient mail is reportable only within a class: staff add it
    letters = tmp_path / "letters.csv"
    async with app.sessions() as s:
        n = await register.notify_by_letter(s, inc.id, letters, actor="staff:a", now=NOW)
        again = await register.notify_by_letter(s, inc.id, letters, actor="staff:a", now=NOW)
        subj = (
            await s.scalars(select(IncidentSubject).where(IncidentSubject.incident_id == inc.id))
        ).one()
        await register.close(s, inc.id, actor="staff:a", now=NOW)
        d = await register.describe(s, inc.id)
    assert n == 1 and again == 0
    assert subj.notified_via == "post" and subj.notified_at is not None
    with letters.open(encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[1][0] == "髙橋 一郎 様" and rows[1][2] == "東京都千代田区1-1"
    assert d.status == "closed" and d.notified == 1
    assert [h.action for h in d.history] == [
        "incident.recorded", "incident.notified", "incident.closed"
    ]  # fmt: skip


async def test_a_reportable_incident_stays_open_until_reported_and_notified(
    app: bootstrap.App, tmp_path: Path
) -> None:
    (one,) = await customers(app, 1)
    async with app.sessions() as s:
        inc = await register.record(
            s, RULES, title="誤送付", discovered_at=FOUND, customer_ids=[one],
            items=["name"], classes=["sensitive"], actor="t", now=NOW,
        )  # fmt: skip
        with pytest.raises(InputRejected):
            await register.close(s, inc.id, actor="t", now=NOW)
        await register.reported(s, inc.id, "preliminary", actor="t", now=NOW)
        await register.reported(s, inc.id, "final", actor="t", now=NOW)
        with pytest.raises(InputRejected):  # the person is not told yet
            await register.close(s, inc.id, actor="t", now=NOW)
        await register.notify_by_letter(s, inc.id, tmp_path / "l.csv", actor="t", now=NOW)
        closed = await register.close(s, inc.id, actor="t", now=NOW)
    assert closed.status == "closed" and closed.preliminary_reported_at == NOW


async def test_bad_input_is_refused_whole(app: bootstrap.App) -> None:
    async with app.sessions() as s:
        with pytest.raises(InputRejected):
            await register.record(
                s, RULES, title="x", discovered_at=FOUND, customer_ids=[999_999], items=[],
                actor="t", now=NOW,
            )  # fmt: skip
        with pytest.raises(InputRejected):
            await register.record(
                s, RULES, title="x", discovered_at=NOW + dt.timedelta(days=1), customer_ids=[],
                items=[], actor="t", now=NOW,
            )  # fmt: skip
