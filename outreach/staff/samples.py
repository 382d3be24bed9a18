"""The sample messages of a campaign preview: the render kit, the sample customers the gate
allows, each rendered through the one composer with only what its permit grants."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import Campaign, Customer, InsurancePolicy, Store, Vehicle
from outreach.errors import OutreachError
from outreach.gate import batch, decision, purposes
from outreach.gate.context import GateContext
from outreach.gate.decision import Request
from outreach.render import compose, context, environment, templates
from outreach.render import dealer as dealer_mod
from outreach.staff import audience

SAMPLES = 3
SAMPLE_POOL = 60  # audience members examined to find the sample customers
_HIDDEN = {"opt_outs", "use_suspended", "consents", "ledger_seq", "ledger_head"}


@dataclass(frozen=True)
class Sample:
    customer_id: int
    to_address: str | None
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Kit:
    """What rendering samples needs: the one composer's render step, the template includes
    and the public address."""

    mail: compose.MailRenderer
    read_include: Callable[[str], str]
    base_url: str

    @property
    def renderer(self) -> environment.Renderer:
        return self.mail.renderer

    @property
    def dealer(self) -> SimpleNamespace:
        return self.mail.dealer.view()


def kit(
    templates_dir: Path, config_dir: Path, base_url: str, dealer_file: Path | None = None
) -> Kit:
    mail_dir = templates_dir / "mail"
    return Kit(
        mail=compose.MailRenderer(
            renderer=environment.Renderer(environment.make(mail_dir)),
            registry=purposes.load(config_dir / "purposes.toml"),
            dealer=dealer_mod.load(dealer_file or config_dir / "dealer.toml"),
        ),
        read_include=templates.file_loader(mail_dir),
        base_url=base_url.rstrip("/"),
    )


def _row(obj: Any, table: Table) -> dict[str, Any]:
    return {col.key: getattr(obj, col.key) for col in table.c if col.key not in _HIDDEN}


async def _samples(
    session: AsyncSession,
    ctx: GateContext,
    c: Campaign,
    conditions: list[Any],
    req: Request,
    now: dt.datetime,
    k: Kit,
) -> tuple[list[Sample], list[str]]:
    q = select(Customer).where(*audience.where(conditions)).order_by(Customer.id).limit(SAMPLE_POOL)
    pool = list((await session.scalars(q)).all())
    decisions = await batch.decide_for(session, ctx, [(p.id, req) for p in pool], now)
    chosen = [(p, d) for p, d in zip(pool, decisions, strict=True) if d.allowed][:SAMPLES]
    out: list[Sample] = []
    errors: list[str] = []
    if not chosen:
        return out, errors
    # The one composer's render step (render.compose), as the worker renders the mail: the
    # context holds only what each sample's permit grants, plus the sender display.
    try:
        tmpl = compose.campaign_template(
            f"campaign:{c.id}:v{c.version}",
            _campaign_row(c),
            c.version,
            k.mail.registry,
            k.read_include,
        )
    except OutreachError as e:
        return out, [f"テンプレート: {e}"]
    for cust, d in chosen:
        data = await message_data(session, c, cust, conditions)
        links = context.Links(
            id=f"preview-{c.id}-{cust.id}",
            message_id=f"<preview-{c.id}-{cust.id}@preview.invalid>",
            optout_url=f"{k.base_url}/u/（プレビュー：送信時に発行されます）",
            preferences_url=f"{k.base_url}/preferences/（プレビュー）",
            advertising=bool(c.advertising),
        )
        try:
            rendered = k.mail.render(
                tmpl, decision.permit_for(d), {**data, "campaign": _campaign_row(c)}, links
            )
            out.append(
                Sample(
                    customer_id=cust.id,
                    to_address=cust.email,
                    subject=rendered.subject,
                    text=rendered.text,
                    html=rendered.html or "",
                )
            )
        except Exception as e:  # a template fault is shown to staff, not raised
            errors.append(f"顧客 {cust.id}: {e}")
    return out, errors


def _campaign_row(c: Campaign) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "purpose": c.purpose,
        "category": c.category,
        "schedule_at": c.schedule_at,
        "advertising": c.advertising,
        "subject_template": c.subject_template,
        "text_template": c.text_template,
        "html_template": c.html_template,
    }


async def message_data(
    session: AsyncSession, c: Campaign, cust: Customer, conditions: list[Any]
) -> dict[str, Mapping[str, Any] | None]:
    """The template data of one customer: their record, the vehicle and policy the audience
    filter matched (the first, if several), and their store."""
    vehicle = await session.scalar(
        select(Vehicle)
        .where(Vehicle.user_id == cust.id, audience.vehicle_where(conditions))
        .order_by(Vehicle.id)
        .limit(1)
    )
    policy = await session.scalar(
        select(InsurancePolicy)
        .where(InsurancePolicy.customer_id == cust.id, audience.policy_where(conditions))
        .order_by(InsurancePolicy.id)
        .limit(1)
    )
    store = await session.get(Store, cust.store_id) if cust.store_id is not None else None
    return {
        "customer": _row(cust, Customer.__table__),  # type: ignore[arg-type]
        "vehicle": _row(vehicle, Vehicle.__table__) if vehicle else None,  # type: ignore[arg-type]
        "policy": _row(policy, InsurancePolicy.__table__) if policy else None,  # type: ignore[arg-type]
        "store": _row(store, Store.__table__) if store else None,  # type: ignore[arg-type]
    }
