"""The monthly compliance report: sends by purpose, channel and legal basis; opt-outs and
whether any advertising mail followed one; denials by reason; consent evidence kept;
provisions made; incidents open. Read-only; one value for the page, the PDF and `--json`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.clock import JST
from outreach.compliance.model import (
    Denials,
    Evidence,
    IncidentLine,
    Optouts,
    Provisions,
    Report,
    Requests,
    Sends,
)
from outreach.db.models import (
    ConsentEvent,
    DataRequest,
    EmailBasis,
    GateDecision,
    Incident,
    IncidentSubject,
    OutboxMessage,
    ProvisionRecord,
)
from outreach.gate import purposes
from outreach.gate import reasons as reasons_mod
from outreach.incidents import classes as incident_classes

CHANNELS = {"email": "電子メール", "post": "郵便", "phone": "電話", "visit": "訪問", "sms": "SMS"}
BASES = {
    "opt_in": "同意（オプトイン）",
    "written": "書面での通知",
    "transaction": "取引関係",
    "published": "公表されたアドレス",
    None: "広告に当たらない通知（根拠不要）",
}
SOURCES = {
    "link": "メールのリンク",
    "one_click": "ワンクリック（RFC 8058）",
    "preference_page": "配信設定ページ",
    "mail": "返信メール",
    "phone": "電話",
    "store": "店頭",
    "import": "取込",
    "staff": "スタッフ",
}
REQUESTS = {"disclosure": "開示", "correction": "訂正等", "cessation": "利用停止等"}
DIRECTIONS = {"provide": "提供", "receive": "受領"}
PROVISION_BASES = {
    "consent": "本人の同意",
    "joint_use": "共同利用",
    "outsourcing": "業務委託",
    "law": "法令",
    "third_party": "第三者（範囲外・要確認）",
}
OPTOUT_EFFECT = (
    "即時（リンク・ワンクリック・配信設定ページ・電話や店頭での受付は、"
    "受け付けた処理の中で顧客記録に反映）"
)
_STOPS_ADS = ("all", "category:marketing", "channel:email")


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a JST calendar month 'YYYY-MM'."""
    try:
        y, m = (int(x) for x in month.split("-"))
        start = dt.datetime(y, m, 1, tzinfo=JST)
    except ValueError:
        raise ValueError(f"month must be YYYY-MM, not {month!r}") from None
    end = dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=JST)
    return start, end


def _ja_date(d: dt.date | None) -> str:
    return f"{d.year}年{d.month}月{d.day}日" if d else "—"


async def build(
    session: AsyncSession, reg: purposes.Registry, month: str, now: dt.datetime
) -> Report:
    start, end = month_bounds(month)
    ob, ce = OutboxMessage, ConsentEvent

    def purpose_label(pid: str) -> str:
        p = reg.purposes.get(pid)
        if p is None:
            legal = reg.legal.get(pid)
            return f"法令に基づく通知（{legal.label}）" if legal is not None else pid
        return f"{p.number} {p.text[:16]}…" if len(p.text) > 16 else f"{p.number} {p.text}"

    sent_rows = (
        await session.execute(
            select(ob.purpose, ob.channel, ob.basis, ob.advertising, func.count())
            .where(
                or_(
                    and_(ob.status == "sent", ob.sent_at >= start, ob.sent_at < end),
                    and_(
                        ob.channel.in_(("post", "phone")),
                        ob.created_at >= start,
                        ob.created_at < end,
                        ob.status.in_(("queued", "sent")),
                    ),
                )
            )
            .group_by(ob.purpose, ob.channel, ob.basis, ob.advertising)
            .order_by(ob.purpose, ob.channel, ob.basis)
        )
    ).all()
    # The basis matters for advertising email only (特定電子メール法); other rows are summed.
    tally: Counter[tuple[str, str, bool, str]] = Counter()
    for p, c, b, ad, n in sent_rows:
        if c != "email":
            label = "—（郵便・電話）"
        elif ad:
            label = BASES.get(b, b or "根拠なし（要調査）")
        else:
            label = BASES[None]
        tally[(p, c, bool(ad), label)] += n
    sends = tuple(
        Sends(
            purpose=p,
            purpose_label=purpose_label(p),
            channel=CHANNELS.get(c, c),
            basis=label,
            advertising=ad,
            count=n,
        )
        for (p, c, ad, label), n in sorted(tally.items())
    )

    optout_rows = (
        await session.execute(
            select(ce.source, ce.action, func.count())
            .where(
                ce.action.in_(("opt_out", "cessation")),
                ce.occurred_at >= start,
                ce.occurred_at < end,
            )
            .group_by(ce.source, ce.action)
        )
    ).all()
    optouts = tuple(
        Optouts(
            source=SOURCES.get(s, s),
            action="配信停止" if a == "opt_out" else "利用停止",
            count=n,
        )
        for s, a, n in optout_rows
    )
    # Advertising email sent after an opt-out that covers it: must be none (R18, R23).
    after = await session.scalar(
        select(func.count())
        .select_from(ob)
        .join(ce, ce.customer_id == ob.customer_id)
        .where(
            ob.status == "sent",
            ob.advertising.is_(True),
            ob.channel == "email",
            ob.sent_at >= start,
            ob.sent_at < end,
            ce.action == "opt_out",
            ce.scope.in_(_STOPS_ADS),
            ce.occurred_at < ob.sent_at,
        )
    )

    denial_rows = (
        await session.execute(
            select(GateDecision.reasons, func.count())
            .where(
                GateDecision.allowed.is_(False),
                GateDecision.decided_at >= start,
                GateDecision.decided_at < end,
            )
            .group_by(GateDecision.reasons)
        )
    ).all()
    by_reason: Counter[str] = Counter()
    for text, n in denial_rows:
        for code in (text or "").split():
            by_reason[code] += n
    denials = tuple(
        Denials(code=code, label=reasons_mod.get(code).ja, count=n)
        for code, n in by_reason.most_common()
    )

    eb = EmailBasis
    evidence_rows = (
        await session.execute(
            select(eb.basis, eb.withdrawn_at.is_(None), func.count()).group_by(
                eb.basis, eb.withdrawn_at.is_(None)
            )
        )
    ).all()
    evidence: dict[str, dict[str, Any]] = {}
    for basis, current, n in evidence_rows:
        e = evidence.setdefault(
            basis, {"basis": BASES.get(basis, basis), "current": 0, "withdrawn": 0}
        )
        e["current" if current else "withdrawn"] += n
    no_text = await session.scalar(
        select(func.count())
        .select_from(eb)
        .where(eb.withdrawn_at.is_(None), eb.evidence_text == "")
    )

    pr = ProvisionRecord
    prov_rows = (
        await session.execute(
            select(pr.direction, pr.basis, pr.counterparty, func.count())
            .where(pr.at >= start, pr.at < end)
            .group_by(pr.direction, pr.basis, pr.counterparty)
            .order_by(pr.direction, pr.counterparty)
        )
    ).all()
    provisions = tuple(
        Provisions(
            direction=DIRECTIONS.get(d, d),
            basis=PROVISION_BASES.get(b, b),
            counterparty=c,
            count=n,
        )
        for d, b, c, n in prov_rows
    )

    today = now.astimezone(JST).date()
    inc_rows = (
        await session.scalars(
            select(Incident)
            .where(
                or_(
                    Incident.status == "open",
                    and_(Incident.discovered_at >= start, Incident.discovered_at < end),
                )
            )
            .order_by(Incident.discovered_at)
        )
    ).all()
    notified = (
        dict(
            (
                await session.execute(
                    select(IncidentSubject.incident_id, func.count())
                    .where(
                        IncidentSubject.incident_id.in_([i.id for i in inc_rows]),
                        IncidentSubject.notified_at.is_not(None),
                    )
                    .group_by(IncidentSubject.incident_id)
                )
            ).all()
        )
        if inc_rows
        else {}
    )
    incidents: list[IncidentLine] = []
    for i in inc_rows:
        overdue = []
        if (
            i.preliminary_due_on
            and i.preliminary_reported_at is None
            and i.preliminary_due_on < today
        ):
            overdue.append("速報")
        if i.final_due_on and i.final_reported_at is None and i.final_due_on < today:
            overdue.append("確報")
        incidents.append(
            IncidentLine(
                id=i.id,
                title=i.title,
                status="対応中" if i.status == "open" else "完了",
                discovered=_ja_date(i.discovered_at.astimezone(JST).date()),
                classes=tuple(incident_classes.CLASSES[c] for c in i.classes),
                affected=i.affected_count,
                notified=int(notified.get(i.id, 0)),
                reportable=i.reportable,
                preliminary_due=_ja_date(i.preliminary_due_on),
                final_due=_ja_date(i.final_due_on),
                preliminary_done=i.preliminary_reported_at is not None,
                final_done=i.final_reported_at is not None,
                overdue=tuple(overdue),
            )
        )

    dr = DataRequest
    req_rows = (
        await session.execute(
            select(dr.kind, func.count())
            .where(dr.received_at >= start, dr.received_at < end)
            .group_by(dr.kind)
        )
    ).all()

    return Report(
        month=month,
        title=f"{start.year}年{start.month}月 個人情報の取扱い状況報告",
        period=f"{_ja_date(start.date())}〜{_ja_date((end - dt.timedelta(days=1)).date())}",
        generated_at=now.astimezone(JST).isoformat(),
        generated_ja=f"{today.year}年{today.month}月{today.day}日",
        company=reg.name.replace("プライバシーポリシー", ""),
        policy_version=reg.version,
        sends=sends,
        sends_total=sum(s.count for s in sends),
        optouts=optouts,
        optouts_total=sum(o.count for o in optouts),
        optout_effect=OPTOUT_EFFECT,
        ads_after_optout=after or 0,
        denials=denials,
        denials_total=sum(by_reason.values()),
        evidence=tuple(Evidence(**e) for e in evidence.values()),
        evidence_without_text=no_text or 0,
        provisions=provisions,
        provisions_total=sum(p.count for p in provisions),
        incidents=tuple(incidents),
        incidents_open=sum(1 for i in incidents if i.status == "対応中"),
        requests=tuple(Requests(kind=REQUESTS.get(k, k), count=n) for k, n in req_rows),
    )
