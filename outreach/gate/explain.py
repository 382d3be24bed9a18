"""`gate explain`: one customer's decision, every reason in Japanese and English, and the
consent-ledger events and email basis behind it."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import addresses
from outreach.clock import JST
from outreach.db.models import ConsentEvent, Customer, EmailBasis, Store, Suppression
from outreach.errors import InputRejected, NotFound
from outreach.gate import batch, reasons, rules
from outreach.gate.context import GateContext
from outreach.gate.decision import Decision, Request


@dataclass(frozen=True, slots=True)
class StoreView:
    code: str
    name: str
    closing_weekdays: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CustomerView:
    id: int
    external_id: str
    name: str
    status: str
    email: str | None
    acquisition: str
    joint_use_partner: str | None
    notice_version: int
    opt_outs: tuple[str, ...]
    use_suspended: bool
    consents: tuple[str, ...]
    store: StoreView | None


@dataclass(frozen=True, slots=True)
class BasisView:
    """One email basis; times ISO 8601 in JST."""

    email: str
    basis: str
    evidence_at: str | None
    evidence_method: str
    evidence_ref: str | None
    withdrawn_at: str | None
    current: bool  # for the customer's current address and not withdrawn


@dataclass(frozen=True, slots=True)
class EventView:
    """One consent-ledger event; `occurred_at` ISO 8601 in JST."""

    seq: int
    occurred_at: str | None
    action: str
    scope: str
    legal_basis: str | None
    source: str
    actor: str
    evidence: dict[str, Any]  # as recorded (free-form JSON)


@dataclass(frozen=True, slots=True)
class Reading:
    """A reading of the policy (purposes.toml [interpretations]) that bears on the case."""

    id: str
    text: str
    quote: str
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Explanation:
    decision: Decision
    customer: CustomerView
    email_bases: tuple[BasisView, ...]
    suppressed: str | None  # the suppression reason of the customer's email, if any
    events: tuple[EventView, ...]
    template: str | None = None
    fields: frozenset[str] = frozenset()
    purpose_text: str | None = None  # "(3) 当社が取り扱う…" as in the privacy policy
    interpretations: tuple[Reading, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = self.decision
        r = d.request
        return {
            "customer_id": d.customer_id,
            "purpose": r.purpose,
            "purpose_text": self.purpose_text,
            "channel": r.channel,
            "items": sorted(r.items),
            "advertising": r.advertising,
            "template": self.template,
            "fields": sorted(self.fields),
            "allowed": d.allowed,
            "deferred_until": d.deferred_until.isoformat() if d.deferred_until else None,
            "policy_version": d.policy_version,
            "decided_at": d.decided_at.isoformat(),
            "reasons": [
                {"code": c, "ja": reasons.get(c).ja, "en": reasons.get(c).en} for c in d.reasons
            ],
            "customer": asdict(self.customer),
            "email_bases": [asdict(b) for b in self.email_bases],
            "email_suppressed": self.suppressed,
            "consent_events": [asdict(e) for e in self.events],
            "interpretations": [asdict(i) for i in self.interpretations],
        }


def template_items(ctx: GateContext, path: Path) -> tuple[frozenset[str], frozenset[str]]:
    """The fields a template file uses and the data items they are (R1, R3)."""
    from outreach.render import analysis  # the render side's static analysis

    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputRejected(f"{path}: cannot read template: {e}") from None
    try:
        fields = analysis.fields_used(source)
    except Exception as e:  # jinja2.TemplateSyntaxError and friends
        raise InputRejected(f"{path}: not a valid template: {e}") from None
    return fields, ctx.registry.items_for_fields(fields)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(JST).isoformat() if value is not None else None


async def explain(
    session: AsyncSession,
    ctx: GateContext,
    customer_id: int,
    request: Request,
    now: dt.datetime,
    *,
    template: str | None = None,
    fields: frozenset[str] = frozenset(),
) -> Explanation:
    """One decision explained. It reads the customer's name, email and ledger: the caller
    audits the read (R11) in the same transaction."""
    c = (await session.execute(select(Customer).where(Customer.id == customer_id))).scalar()
    if c is None:
        raise NotFound(f"no customer with id {customer_id}")
    (d,) = await batch.decide_for(session, ctx, [(customer_id, request)], now)
    state = (await batch.load_states(session, ctx, [customer_id], now))[customer_id]
    readings = tuple(
        Reading(id=i.id, text=i.text, quote=i.quote, confirmed=i.confirmed)
        for i in (
            ctx.registry.interpretations[k] for k in rules.interpretations(ctx, state, request)
        )
    )
    store = None
    if c.store_id is not None:
        s = await session.get(Store, c.store_id)
        store = StoreView(s.code, s.name, tuple(s.closing_weekdays)) if s else None
    bases = (
        (await session.execute(select(EmailBasis).where(EmailBasis.customer_id == customer_id)))
        .scalars()
        .all()
    )
    suppressed = None
    if c.email:
        suppressed = (
            await session.execute(
                select(Suppression.reason).where(Suppression.email == addresses.normalise(c.email))
            )
        ).scalar()
    events = (
        (
            await session.execute(
                select(ConsentEvent)
                .where(ConsentEvent.customer_id == customer_id)
                .order_by(ConsentEvent.seq)
            )
        )
        .scalars()
        .all()
    )
    return Explanation(
        decision=d,
        customer=CustomerView(
            id=c.id,
            external_id=c.external_id,
            name=c.name_kanji,
            status=c.status,
            email=c.email,
            acquisition=c.acquisition,
            joint_use_partner=c.joint_use_partner,
            notice_version=c.notice_version,
            opt_outs=tuple(sorted(c.opt_outs or [])),
            use_suspended=c.use_suspended,
            consents=tuple(sorted(c.consents or [])),
            store=store,
        ),
        email_bases=tuple(
            BasisView(
                email=b.email,
                basis=b.basis,
                evidence_at=_iso(b.evidence_at),
                evidence_method=b.evidence_method,
                evidence_ref=b.evidence_ref,
                withdrawn_at=_iso(b.withdrawn_at),
                current=b.email == c.email and b.withdrawn_at is None,
            )
            for b in bases
        ),
        suppressed=suppressed,
        events=tuple(
            EventView(
                seq=e.seq,
                occurred_at=_iso(e.occurred_at),
                action=e.action,
                scope=e.scope,
                legal_basis=e.legal_basis,
                source=e.source,
                actor=e.actor,
                evidence=e.evidence,
            )
            for e in events
        ),
        template=template,
        fields=fields,
        purpose_text=(
            f"{p.number} {p.text}" if (p := ctx.registry.purposes.get(request.purpose)) else None
        ),
        interpretations=readings,
    )


def _jst(value: str | None) -> str:
    if value is None:
        return "-"
    t = dt.datetime.fromisoformat(value).astimezone(JST)
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}"


def text(e: Explanation) -> str:
    """The explanation for staff: Japanese first, English under each line."""
    d = e.as_dict()
    c = d["customer"]
    lines = [
        f"顧客 {c['id']}（{c['external_id']} {c['name']}） 利用目的 {d['purpose']} "
        f"チャネル {d['channel']}",
        f"customer {c['id']}, purpose {d['purpose']}, channel {d['channel']}, "
        f"policy version {d['policy_version']}",
        f"  利用目的 / purpose: {d['purpose_text'] or '（登録なし / not in the registry）'}",
    ]
    if e.template:
        lines.append(f"テンプレート / template: {e.template}")
        lines.append(f"  項目 / fields: {', '.join(d['fields']) or '-'}")
    lines.append(f"  データ項目 / items: {', '.join(d['items']) or '-'}")
    if d["allowed"]:
        lines += ["判定: 送信可", "decision: allowed"]
    elif d["deferred_until"]:
        lines += [
            f"判定: 延期（{_jst(d['deferred_until'])} 以降に送信可）",
            f"decision: deferred until {d['deferred_until']}",
        ]
    else:
        lines += ["判定: 送信不可", "decision: denied"]
    for r in d["reasons"]:
        lines += [f"  - {r['code']}: {r['ja']}", f"    {r['en']}"]
    if d["interpretations"]:
        lines.append("判断に用いたプライバシーポリシーの解釈 / readings of the policy applied:")
    for i in d["interpretations"]:
        state = "確認済み" if i["confirmed"] else "販売店の確認待ち"
        lines += [f"  - {i['id']}（{state}）: {i['text']}", f"    根拠 / text: 「{i['quote']}」"]
    lines.append("メールアドレスの同意等の記録 / email basis:")
    if not d["email_bases"]:
        lines.append("  なし / none")
    for b in d["email_bases"]:
        mark = "現在" if b["current"] else "過去"
        lines.append(
            f"  [{mark}] {b['email']} {b['basis']} {_jst(b['evidence_at'])} "
            f"{b['evidence_method']} {b['evidence_ref'] or ''}".rstrip()
        )
    if d["email_suppressed"]:
        lines.append(f"  配信停止リスト / suppressed: {d['email_suppressed']}")
    lines.append("同意・配信停止の記録 / consent ledger:")
    if not d["consent_events"]:
        lines.append("  なし / none")
    for ev in d["consent_events"]:
        lines.append(
            f"  #{ev['seq']} {_jst(ev['occurred_at'])} {ev['action']} {ev['scope']} "
            f"({ev['source']}, {ev['actor']})"
        )
    return "\n".join(lines)
