"""Data minimisation by construction: whatever a template does, a rendered message contains
no value of a data item its permit does not grant.

On both databases: a customer, a vehicle, a policy and a store are stored with a unique marker
in every column; the composer's data loader reads them back (`render.maildata.load`); then
hypothesis builds templates from Jinja2's constructs — set, namespace, with, macro/call,
loops, filters, include/import, attribute and item access, string building, whole objects,
sandbox escapes — each trying to read an arbitrary column, and renders them through the one
render step (`MailRenderer.render`) for random permits issued by the package's fake gate
through the real rules. The static analysis is bypassed on purpose (the template is not
checked): the context alone must hold the line.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from outreach import outbox
from outreach.clock import JST
from outreach.db import engine as engine_mod
from outreach.db.models import Customer, InsurancePolicy, Store, Vehicle
from outreach.gate import fake
from outreach.gate.context import load_context
from outreach.gate.decision import Request
from outreach.render import compose, context, environment, maildata, templates
from outreach.render import dealer as dealer_mod

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 1, 6, 10, 0, tzinfo=JST)
UTC = dt.UTC
TABLES = {"customer": Customer, "vehicle": Vehicle, "policy": InsurancePolicy, "store": Store}
KEEP = {  # columns left at a fixed, non-marker value (keys, flags, enums, JSON)
    "id", "store_id", "user_id", "vehicle_id", "customer_id", "status", "acquisition",
    "owner_kind", "notice_version", "opt_outs", "consents", "use_suspended", "ledger_seq",
    "held_as_processor", "closing_weekdays",
}  # fmt: skip


def _markers() -> dict[str, dict[str, Any]]:
    """Per root, column → a value found nowhere else: strings QZnnX, dates in year 19nn."""
    out: dict[str, dict[str, Any]] = {}
    n = 10
    for root, model in TABLES.items():
        values: dict[str, Any] = {}
        for col in model.__table__.c:
            if col.key in KEEP:
                continue
            n += 1
            kind = str(col.type)
            if kind == "DATE":
                values[col.key] = dt.date(1900 + n, 1 + n % 12, 1 + n % 28)
            elif kind == "DATETIME":
                values[col.key] = dt.datetime(1900 + n, 1 + n % 12, 1 + n % 28, 3, tzinfo=UTC)
            else:
                values[col.key] = f"QZ{n:02d}X"
        out[root] = values
    return out


MARKERS = _markers()


def needles(value: Any) -> list[str]:
    if isinstance(value, dt.datetime | dt.date):
        return [str(value.year)]  # any rendering of the date carries its (unique) year
    return [str(value)]


async def seed(engine: AsyncEngine) -> maildata.MessageData:
    m = MARKERS
    async with engine_mod.sessionmaker(engine)() as s, s.begin():
        await s.execute(insert(Store), [{**m["store"], "id": 1}])
        await s.execute(insert(Customer), [{**m["customer"], "id": 1, "store_id": 1}])
        await s.execute(insert(Vehicle), [{**m["vehicle"], "id": 1, "user_id": 1}])
        await s.execute(
            insert(InsurancePolicy), [{**m["policy"], "id": 1, "customer_id": 1, "vehicle_id": 1}]
        )
    claimed = outbox.Claimed(
        id=1, idempotency_key="k", customer_id=1, vehicle_id=1, policy_id=1, campaign_id=None,
        run_id=None, decision_id=None, purpose="p2", category="service_notice", channel="email",
        kind="shaken", stage=None, due_on=None, template="t", items=frozenset(),
        advertising=True, attempts=1, to_address=None, message_id="<1.x@example.jp>",
        not_before=NOW, created_at=NOW,
    )  # fmt: skip
    async with engine_mod.sessionmaker(engine)() as s:
        data = await maildata.load(s, [claimed])
    return data[1]


def snippet(root: str, attr: str, form: int) -> str:
    r, f = root, attr
    half = len(f) // 2
    forms = [
        f"{{{{ {r}.{f} }}}}",
        f"{{{{ {r}['{f}'] }}}}",
        f"{{% set x = {r} %}}{{{{ x.{f} }}}}",
        f"{{% set ns = namespace(v=none) %}}{{% set ns.v = {r} %}}{{{{ ns.v.{f} }}}}",
        f"{{% with c = {r} %}}{{{{ c.{f} }}}}{{% endwith %}}",
        f"{{% macro m(o) %}}{{{{ o.{f} }}}}{{% endmacro %}}{{{{ m({r}) }}}}",
        f"{{% macro w() %}}{{{{ caller() }}}}{{% endmacro %}}{{% call w() %}}{{{{ {r}.{f} }}}}"
        "{% endcall %}",
        f"{{% for k in ['{f}'] %}}{{{{ {r}[k] }}}}{{% endfor %}}",
        f"{{{{ {r}|attr('{f}') }}}}",
        f"{{% set k = '{f[:half]}' ~ '{f[half:]}' %}}{{{{ {r}[k] }}}}",
        f"{{% set field = '{f}' %}}{{% set obj = {r} %}}{{% include '_leak/inc.txt' %}}",
        f"{{% from '_leak/macros.txt' import read %}}{{{{ read({r}, '{f}') }}}}",
        f"{{% import '_leak/macros.txt' as lk %}}{{{{ lk.read({r}, '{f}') }}}}",
        f"{{{{ {r} }}}}",
        f"{{{{ {r}|string }}}}",
        f"{{{{ {r}.__dict__ }}}}",
        f"{{% for v in {r}.__dict__.values() %}}{{{{ v }}}}{{% endfor %}}",
        f"{{{{ {r}|list }}}}",
        f"{{{{ {r}|dictsort }}}}",
        f"{{% set d = dict(a={r}) %}}{{{{ d.a.{f} }}}}",
        f"{{{{ [{r}]|map(attribute='{f}')|join(',') }}}}",
        f"{{{{ {r}.{f}|default('') }}}}",
        f"{{{{ {r}.{f}|string|upper|lower }}}}",
        f"{{{{ ({r}.{f} ~ '')[0:50] }}}}",
        f"{{{{ {r}.items()|list }}}}",
        f"{{{{ {r}.__class__.__init__.__globals__ }}}}",
        f"{{{{ {r}.{f}|jdate }}}}",
    ]
    return forms[form % len(forms)]


FORMS = 27
COLUMNS = [(root, c.key) for root, model in TABLES.items() for c in model.__table__.c]


@st.composite
def template_sources(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        root, attr = draw(st.sampled_from(COLUMNS))
        body = snippet(root, attr, draw(st.integers(0, FORMS - 1)))
        if draw(st.booleans()):  # a guard keeps a refused read from failing the whole render
            body = f"{{% if {root}.{attr} is defined %}}{body}{{% endif %}}"
        parts.append(body)
    return "\n".join(parts)


def mail_dir(tmp: Path) -> Path:
    leak = tmp / "mail" / "_leak"
    leak.mkdir(parents=True)
    (leak / "inc.txt").write_text("{{ obj[field] }}", encoding="utf-8")
    (leak / "macros.txt").write_text(
        "{% macro read(o, f) %}{{ o[f] }}{% endmacro %}", encoding="utf-8"
    )
    return tmp / "mail"


async def test_no_output_holds_a_value_outside_the_permit(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    data = await seed(engine)
    roots = {
        "customer": data.customer,
        "vehicle": data.vehicle,
        "policy": data.policy,
        "store": data.store,
    }
    gate_ctx = load_context(REPO / "config")
    registry = gate_ctx.registry
    gate = fake.FakeGate(gate_ctx)
    mail = compose.MailRenderer(
        renderer=environment.Renderer(environment.make(mail_dir(tmp_path))),
        registry=registry,
        dealer=dealer_mod.load(REPO / "config" / "dealer.demo.toml"),
    )
    links = context.Links(1, "<1.x@example.jp>", "https://e.jp/u/T", "https://e.jp/p/T", True)
    store_public = context.STORE_FIELDS
    purposes_ = [registry.purpose(p) for p in ("p2", "p3", "p4")]
    seen = {"rendered": 0, "granted_value_shown": 0}

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        source=template_sources(),
        purpose=st.sampled_from(purposes_),
        pick=st.sets(st.sampled_from(sorted({i for p in purposes_ for i in p.items}))),
    )
    def prop(source: str, purpose: Any, pick: set[str]) -> None:
        items = frozenset(pick) & purpose.items
        permit = gate.permit(1, Request(purpose.id, "email", items, advertising=True), NOW)
        meta = templates.Meta(purpose=purpose.id, advertising=True, stream="campaign")
        tmpl = templates.MailTemplate(
            name="generated",
            meta=meta,
            sources={"subject.txt": "件名", "body.txt": source, "body.html": source},
            fields={},
            items={},
            hash="",
        )
        try:
            out = mail.render(tmpl, permit, roots, links)
        except (environment.RenderError, jinja2.TemplateError):
            return  # refused: nothing left
        seen["rendered"] += 1
        text = "\n".join((out.subject, out.text, out.html or ""))
        for root, values in MARKERS.items():
            for col, value in values.items():
                if root == "store":
                    granted = col in store_public
                else:
                    item = registry.field_index.get((root, col))
                    granted = item is not None and item in permit.items
                for needle in needles(value):
                    if granted:
                        seen["granted_value_shown"] += needle in text
                    else:
                        assert needle not in text, (root, col, source, sorted(permit.items))

    prop()
    # The property is not vacuous: many templates rendered, and granted values did appear.
    # (lower bounds: how many of the 150 random templates render varies from run to run)
    assert seen["rendered"] > 15 and seen["granted_value_shown"] > 0, seen


async def test_a_granted_field_is_there_and_nothing_else(engine: AsyncEngine) -> None:
    data = await seed(engine)
    ctx = load_context(REPO / "config")
    permit = fake.FakeGate(ctx).permit(
        1, Request("p2", "email", frozenset({"name"}), advertising=False), NOW
    )
    fields = context.Fields(ctx.registry)
    links = context.Links(1, "<1.x@example.jp>", "https://e.jp/u/T", "https://e.jp/p/T", False)
    dealer = dealer_mod.load(REPO / "config" / "dealer.demo.toml").view()
    built = context.build(
        fields.granted(permit.items),
        {"customer": data.customer, "vehicle": data.vehicle, "policy": data.policy},
        dealer=dealer,
        links=links,
    )
    assert vars(built["customer"]) == {
        "name_kanji": MARKERS["customer"]["name_kanji"],
        "name_kana": MARKERS["customer"]["name_kana"],
    }
    assert vars(built["vehicle"]) == {} and vars(built["policy"]) == {}
