"""The one composer: a message's template rendered over the data its Permit grants, the
sender display added, and the MIME bytes built. Used by the outbox worker, the campaign
preview, the staff test send and `outreach templates preview` alike.

`MailRenderer.render` is the render step every caller shares:
1. the context is built from the permit's items and nothing else (`render.context`): what
   the gate did not grant is not there to read, whatever the template does;
2. the template renders in the sandbox (StrictUndefined: a read of anything else refuses);
3. the R19 sender display is added from the dealer file (`render.display`) to every mail —
   for advertising mail it is the law — and the rendered parts are checked to show it; a part
   that hides it is refused. A template classified advertising is never sent under a permit
   decided as not advertising (the consent rules for advertising would have been skipped).

A reminder's `template` names a folder of the catalogue (`templates/mail/<name>/`); a
campaign message's `template` is `campaign:<id>:v<approved version>` and its text is the
campaign's own, checked by the same rules when first used and refused if the campaign was
edited after that version was approved. Pure and synchronous after construction.

Failures are of two kinds (`templates.permanent`): a refusal — outside the permit, a template
the checks refuse, a value the MIME writer refuses (header injection) — is final; anything
else (a template file missing or unreadable) may be fixed by ops and is retried.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from outreach import outbox
from outreach.errors import ConfigError, GateRefused
from outreach.gate import decision, purposes
from outreach.gate.decision import Permit
from outreach.optout import keys, tokens
from outreach.pipeline import Composed
from outreach.render import context, display, environment, maildata, message, templates
from outreach.render import dealer as dealer_mod
from outreach.settings import Settings

CAMPAIGN_TEXT = {
    "subject.txt": "subject_template",
    "body.txt": "text_template",
    "body.html": "html_template",
}


class DisplayMissing(GateRefused):
    """An advertising message whose rendered parts do not show the R19 sender display."""


@dataclass
class MailRenderer:
    """The render step: permit-bound context, sandbox, sender display."""

    renderer: environment.Renderer
    registry: purposes.Registry
    dealer: dealer_mod.Dealer
    _fields: context.Fields = field(init=False, repr=False)
    _dealer_view: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._fields = context.Fields(self.registry)
        self._dealer_view = self.dealer.view()

    def context_for(
        self, permit: Permit, roots: Mapping[str, Any], links: context.Links
    ) -> dict[str, Any]:
        decision.verify(permit)
        return context.build(
            self._fields.granted(permit.items), roots, dealer=self._dealer_view, links=links
        )

    def render(
        self,
        tmpl: templates.MailTemplate,
        permit: Permit,
        roots: Mapping[str, Any],
        links: context.Links,
    ) -> templates.Rendered:
        if tmpl.meta.advertising and not permit.advertising:
            raise GateRefused(
                f"template {tmpl.name} is advertising (R14) but the send was decided as not "
                "advertising; not sent"
            )
        ctx = self.context_for(permit, roots, links)
        out = templates.render_email(self.renderer, tmpl, ctx)
        # Every mail carries the sender display; for advertising mail it is the law (R19).
        shown = display.Links(links.optout_url, links.preferences_url)
        text, html, at = display.insert(out.text, out.html, self.dealer, shown)
        # The values are in the block by construction; what a template can still do is hide
        # it: checked on the rendered HTML where the block stands (a tag scan, not a parse).
        why = display.hidden_at(html, at) if html is not None else None
        if why is not None:
            raise DisplayMissing(
                f"template {tmpl.name}: body.html: the sender display (R19) would be hidden "
                f"({why}); not sent"
            )
        return templates.Rendered(out.subject, text, html)

    def render_channel(
        self,
        tmpl: templates.MailTemplate,
        permit: Permit,
        roots: Mapping[str, Any],
        links: context.Links,
    ) -> str:
        """The post letter or call-script line, from the same permit-bound context."""
        ctx = self.context_for(permit, roots, links)
        return templates.render_channel(self.renderer, tmpl, permit.channel, ctx)


def campaign_template(
    name: str,
    campaign: Mapping[str, Any],
    version: int,
    registry: purposes.Registry,
    read_include: Callable[[str], str],
) -> templates.MailTemplate:
    """A campaign's own text as a checked template. Every campaign is advertising (R14)
    unless an approver certified it a service notice (`advertising` false on the row)."""
    meta = templates.Meta(
        purpose=str(campaign["purpose"]),
        advertising=bool(campaign["advertising"]),
        stream="campaign",
        kind="campaign",
        version=version,
    )
    sources = {f: str(campaign[col]) for f, col in CAMPAIGN_TEXT.items() if campaign.get(col)}
    return templates.check(name, meta, sources, registry, read_include)


@dataclass
class TemplateComposer:
    mail: MailRenderer
    catalog: templates.Catalog
    read_include: Callable[[str], str]
    key_ring: keys.KeyRing
    base_url: str
    mail_domain: str
    reminder_from: str
    campaign_from: str
    bounce_from: str
    unsubscribe_mailto: str | None = None
    _campaigns: dict[str, templates.MailTemplate] = field(default_factory=dict, repr=False)

    @property
    def registry(self) -> purposes.Registry:
        return self.mail.registry

    @property
    def dealer(self) -> dealer_mod.Dealer:
        return self.mail.dealer

    def template(self, m: outbox.Claimed, data: maildata.MessageData) -> templates.MailTemplate:
        tmpl = self.catalog.get(m.template) if m.campaign_id is None else self._campaign(m, data)
        # Early feedback, not the guard (the context is): a template whose analysed items
        # lie outside the permit is refused before it renders.
        outside = tmpl.items_for(m.channel) - m.items
        if outside:
            raise GateRefused(
                f"template {tmpl.name} uses data items the gate did not allow for this "
                f"message: {', '.join(sorted(outside))}"
            )
        return tmpl

    def _campaign(self, m: outbox.Claimed, data: maildata.MessageData) -> templates.MailTemplate:
        c = data.campaign
        if c is None:
            raise GateRefused(f"campaign {m.campaign_id} not found; not sent")
        approved = c.get("approved_version")
        # Checked for every message, cached or not: an edit after approval stops the rest.
        if m.template != f"campaign:{m.campaign_id}:v{approved}" or c.get("version") != approved:
            raise GateRefused(
                f"campaign {m.campaign_id}: its text is no longer the approved version "
                f"({m.template}); not sent"
            )
        found = self._campaigns.get(m.template)
        if found is None:
            found = campaign_template(
                m.template, c, int(approved or 0), self.registry, self.read_include
            )
            self._campaigns[m.template] = found
        return found

    def links(self, m: outbox.Claimed, message_id: str) -> context.Links:
        scope = f"campaign:{m.campaign_id}" if m.campaign_id is not None else f"kind:{m.kind}"
        token = tokens.issue(
            self.key_ring.key,
            self.key_ring.kid,
            customer_id=m.customer_id,
            outbox_id=m.id,
            scope=scope,
            purpose=m.purpose,
            category=m.category,
            advertising=m.advertising,
        )
        return context.Links(
            id=m.id,
            message_id=message_id,
            optout_url=tokens.optout_url(self.base_url, token),
            preferences_url=tokens.preferences_url(self.base_url, token),
            advertising=m.advertising,
            token=token,
        )

    def compose(
        self,
        permit: Permit,
        m: outbox.Claimed,
        message_id: str,
        data: maildata.MessageData,
        now: dt.datetime,
    ) -> Composed:
        decision.require(permit, m.customer_id, m.purpose, m.channel, m.items)
        tmpl = self.template(m, data)
        links = self.links(m, message_id)
        roots = {
            "customer": data.customer,
            "vehicle": data.vehicle,
            "policy": data.policy,
            "store": data.store,
            "campaign": data.campaign,
        }
        rendered = self.mail.render(tmpl, permit, roots, links)
        stream_name = tmpl.meta.stream
        stream = self.dealer.stream(stream_name)
        sender = self.campaign_from if stream_name == "campaign" else self.reminder_from
        to = maildata.recipient(m, data.customer)
        # The display name of the recipient is their name only where the permit grants it.
        name = str(data.customer.get("name_kanji") or "") if "name" in permit.items else ""
        unsubscribe = [links.optout_url]
        if self.unsubscribe_mailto:
            unsubscribe.append(tokens.mailto_url(self.unsubscribe_mailto, links.token))
        built = message.build(
            message.Mail(
                sender=message.Address(sender, stream.display_name),
                to=message.Address(to, name),
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                message_id=message_id,
                date=now,
                list_id=message.list_id(stream.list_name, stream_name + "s", self.mail_domain),
                list_unsubscribe=unsubscribe,
            )
        )
        return Composed(self.bounce_from, to, built, tmpl.version, tmpl.hash)


def message_domain(domain: str) -> str:
    """The Message-ID domain as the MIME writer accepts it (IDNA), or ConfigError."""
    try:
        mid = message.message_id(1, domain)
    except (ValueError, UnicodeError) as e:
        raise ConfigError(f"OUTREACH_MAIL_DOMAIN: {e}") from None
    return mid.rsplit("@", 1)[1].rstrip(">")


def mail_renderer(
    settings: Settings,
    registry: purposes.Registry | None = None,
    dealer: dealer_mod.Dealer | None = None,
) -> MailRenderer:
    """The renderer; `registry` and `dealer` from the App's policy (else read from files)."""
    mail_dir = settings.templates_dir / "mail"
    return MailRenderer(
        renderer=environment.Renderer(environment.make(mail_dir)),
        registry=registry or purposes.load(settings.config_dir / "purposes.toml"),
        dealer=dealer or dealer_mod.load(dealer_mod.path(settings)),
    )


def from_settings(
    settings: Settings,
    *,
    registry: purposes.Registry | None = None,
    dealer: dealer_mod.Dealer | None = None,
) -> TemplateComposer:
    mail_dir = settings.templates_dir / "mail"
    mail = mail_renderer(settings, registry, dealer)
    return TemplateComposer(
        mail=mail,
        catalog=templates.load(mail_dir, mail.registry),
        read_include=templates.file_loader(mail_dir),
        key_ring=keys.ring(settings),
        base_url=settings.base_url,
        mail_domain=settings.mail_domain,
        reminder_from=settings.reminder_from,
        campaign_from=settings.campaign_from,
        bounce_from=settings.reminder_from,
        unsubscribe_mailto=settings.unsubscribe_mailto,
    )
