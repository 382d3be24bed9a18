"""The composer's render step: the sender display (R19) is the composer's, on every mail, and
the rendered output is checked to show it; the classification of the template and of the
send must agree; a refused catalogue template parks only its own messages."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from outreach.clock import JST
from outreach.errors import GateRefused
from outreach.gate import fake
from outreach.gate.context import load_context
from outreach.gate.decision import Request
from outreach.render import compose, context, dealer, display, environment, sample, templates

REPO = Path(__file__).resolve().parents[2]
MAIL = REPO / "templates" / "mail"
NOW = dt.datetime(2026, 1, 6, 10, 0, tzinfo=JST)
OPTOUT = "https://dealer.example.jp/u/TOKEN"


@pytest.fixture(scope="module")
def gate_ctx() -> object:
    return load_context(REPO / "config")


@pytest.fixture(scope="module")
def mail(gate_ctx: object) -> compose.MailRenderer:
    return compose.MailRenderer(
        renderer=environment.Renderer(environment.make(MAIL)),
        registry=gate_ctx.registry,  # type: ignore[attr-defined]
        dealer=dealer.load(REPO / "config" / "dealer.demo.toml"),
    )


def links(advertising: bool = True) -> context.Links:
    return context.Links(
        1, "<1.a@example.jp>", OPTOUT, "https://dealer.example.jp/p/T", advertising
    )


def render(
    mail: compose.MailRenderer, gate_ctx: object, tmpl: templates.MailTemplate
) -> templates.Rendered:
    request = Request(
        tmpl.meta.purpose, "email", tmpl.items_for("email"), advertising=tmpl.meta.advertising
    )
    permit = fake.sample_permit(gate_ctx, request, NOW)  # type: ignore[arg-type]
    roots = sample.context(mail.dealer, NOW.date())
    return mail.render(tmpl, permit, roots, links(tmpl.meta.advertising))


def shows_display(out: templates.Rendered, d: dealer.Dealer) -> None:
    assert display.problems(out.text, out.html, d, display.Links(OPTOUT, "x")) == []
    seen, hrefs = display.visible(out.html or "")
    for part in (out.text, seen):
        assert d.sender_name in part and d.postal_address in part and d.contact_phone in part
        assert "直ちに配信を停止できます" in part
    assert OPTOUT in out.text and OPTOUT in hrefs


def with_sources(tmpl: templates.MailTemplate, **changed: str) -> templates.MailTemplate:
    return templates.MailTemplate(
        tmpl.name, tmpl.meta, {**tmpl.sources, **changed}, tmpl.fields, tmpl.items, tmpl.hash
    )


def test_every_shipped_template_carries_the_full_sender_display(
    mail: compose.MailRenderer, gate_ctx: object
) -> None:
    catalog = templates.load(MAIL, gate_ctx.registry).require_all()  # type: ignore[attr-defined]
    for tmpl in catalog.templates.values():
        shows_display(render(mail, gate_ctx, tmpl), mail.dealer)


def test_an_advertising_template_with_its_footer_removed_or_hidden_still_carries_it(
    mail: compose.MailRenderer, gate_ctx: object
) -> None:
    catalog = templates.load(MAIL, gate_ctx.registry)  # type: ignore[attr-defined]
    ads = [t for t in catalog.templates.values() if t.meta.advertising]
    assert len(ads) >= 6
    never = '{% if false %}{% include "_base/footer.txt" %}{% endif %}'
    for tmpl in ads:
        removed = with_sources(
            tmpl,
            **{
                "body.txt": tmpl.sources["body.txt"].replace('{% include "_base/footer.txt" %}', "")
                + never
            },
        )
        shows_display(render(mail, gate_ctx, removed), mail.dealer)


@pytest.mark.parametrize(
    "tail",
    [
        "<!-- ",  # an unterminated comment swallows what follows
        '<div style="display:none">',  # an unclosed hidden element
        '<div hidden><span style="font-size:0">',
        "<style>",
    ],
)
def test_an_html_part_that_hides_the_display_is_refused(
    mail: compose.MailRenderer, gate_ctx: object, tail: str
) -> None:
    catalog = templates.load(MAIL, gate_ctx.registry)  # type: ignore[attr-defined]
    tmpl = catalog.get("campaign_winter_tires")
    html = "<html><body><p>{{ customer.name_kanji }} 様</p>" + tail + "</body></html>"
    with pytest.raises(compose.DisplayMissing, match=r"body\.html"):
        render(mail, gate_ctx, with_sources(tmpl, **{"body.html": html}))


def test_an_advertising_template_is_not_sent_under_a_non_advertising_permit(
    mail: compose.MailRenderer, gate_ctx: object
) -> None:
    tmpl = templates.load(MAIL, gate_ctx.registry).get("reminder_shaken_2")  # type: ignore[attr-defined]
    permit = fake.sample_permit(
        gate_ctx,  # type: ignore[arg-type]
        Request("p2", "email", tmpl.items_for("email"), advertising=False),
        NOW,
    )
    roots = sample.context(mail.dealer, NOW.date())
    with pytest.raises(GateRefused, match="advertising"):
        mail.render(tmpl, permit, roots, links(False))


def test_one_refused_template_parks_only_its_own_messages(tmp_path: Path, gate_ctx: object) -> None:
    shutil.copytree(MAIL, tmp_path / "mail")
    broken = tmp_path / "mail" / "campaign_winter_tires" / "body.txt"
    broken.write_text("{{ customer.birth_date|shout }}", encoding="utf-8")
    catalog = templates.load(tmp_path / "mail", gate_ctx.registry)  # type: ignore[attr-defined]
    assert set(catalog.refused) == {"campaign_winter_tires"}
    assert catalog.get("reminder_shaken_1").name == "reminder_shaken_1"
    with pytest.raises(templates.TemplateParked, match="campaign_winter_tires") as e:
        catalog.get("campaign_winter_tires")
    assert not templates.permanent(e.value)  # parked: retried once ops fix the file
    with pytest.raises(Exception, match="campaign_winter_tires"):
        catalog.require_all()  # what `outreach templates check` reports


@pytest.mark.parametrize(
    ("error", "final"),
    [
        (ValueError("To: control character in 'a\\r\\nBcc: x'"), True),  # header injection
        (GateRefused("outside the permit"), True),
        (environment.RenderError("undefined: customer.birth_date"), True),
        (templates.TemplateRefused("x", ["bad"]), True),
        (FileNotFoundError("templates/mail/x/body.txt"), False),
        (templates.TemplateParked("x refused"), False),
    ],
)
def test_build_failures_are_final_or_retried(error: Exception, final: bool) -> None:
    assert templates.permanent(error) is final
