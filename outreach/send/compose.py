"""Turning a claimed message and its data into MIME bytes with the render engineer's parts:
the template catalogue (checked against each template's purpose at load), the sandboxed
renderer (compiled-template cache), the fast MIME writer, DKIM, the dealer footer data and
the signed opt-out links.

A reminder's `template` names a folder of the catalogue (`templates/mail/<name>/`); a
campaign message's `template` is `campaign:<id>:v<approved version>` and its text is the
campaign's own, checked by the same rules when first used and refused if the campaign was
edited after that version was approved. Either way the template's data items must lie
within the items the gate allowed for the message. Pure and synchronous after construction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from outreach import outbox
from outreach.errors import ConfigError, GateRefused
from outreach.gate import purposes
from outreach.optout import keys, tokens
from outreach.pipeline import Composed
from outreach.render import dealer as dealer_mod
from outreach.render import dkim, environment, message, templates
from outreach.send import maildata
from outreach.settings import Settings

_CAMPAIGN_TEXT = {
    "subject.txt": "subject_template",
    "body.txt": "text_template",
    "body.html": "html_template",
}


@dataclass
class TemplateComposer:
    renderer: environment.Renderer
    catalog: templates.Catalog
    registry: purposes.Registry
    read_include: Any  # templates.file_loader(mail_dir)
    dealer: dealer_mod.Dealer
    key_ring: keys.KeyRing
    base_url: str
    mail_domain: str
    reminder_from: str
    campaign_from: str
    bounce_from: str
    unsubscribe_mailto: str | None = None
    signer: dkim.Signer | None = None
    _campaigns: dict[str, templates.MailTemplate] = field(default_factory=dict, repr=False)
    _dealer: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._dealer = dict(vars(self.dealer.view()))

    def template(self, m: outbox.Claimed, data: maildata.MessageData) -> templates.MailTemplate:
        tmpl = self.catalog.get(m.template) if m.campaign_id is None else self._campaign(m, data)
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
        if found is not None:
            return found
        meta = templates.Meta(
            purpose=str(c["purpose"]),
            advertising=bool(c["advertising"]),
            stream="campaign",
            kind="campaign",
            version=int(approved or 0),
        )
        sources = {f: str(c[col]) for f, col in _CAMPAIGN_TEXT.items() if c.get(col)}
        tmpl = templates.check(m.template, meta, sources, self.registry, self.read_include)
        self._campaigns[m.template] = tmpl
        return tmpl

    def compose(
        self,
        m: outbox.Claimed,
        message_id: str,
        data: maildata.MessageData,
        now: dt.datetime,
    ) -> Composed:
        tmpl = self.template(m, data)
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
        optout = tokens.optout_url(self.base_url, token)
        context = {
            "customer": _view(data.customer),
            "vehicle": _view(data.vehicle),
            "policy": _view(data.policy),
            "store": _view(data.store),
            "campaign": _view(data.campaign, hide=tuple(_CAMPAIGN_TEXT.values())),
            "dealer": self._dealer,
            "message": {
                "id": m.id,
                "message_id": message_id,
                "optout_url": optout,
                "preferences_url": tokens.preferences_url(self.base_url, token),
                "advertising": m.advertising,
            },
        }
        rendered = templates.render_email(self.renderer, tmpl, context)
        stream_name = tmpl.meta.stream
        stream = self.dealer.stream(stream_name)
        sender = self.campaign_from if stream_name == "campaign" else self.reminder_from
        to = maildata.recipient(m, data.customer)
        unsubscribe = [optout]
        if self.unsubscribe_mailto:
            unsubscribe.append(tokens.mailto_url(self.unsubscribe_mailto, token))
        built = message.build(
            message.Mail(
                sender=message.Address(sender, stream.display_name),
                to=message.Address(to, str(data.customer.get("name_kanji") or "")),
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                message_id=message_id,
                date=now,
                list_id=message.list_id(stream.list_name, stream_name + "s", self.mail_domain),
                list_unsubscribe=unsubscribe,
            )
        )
        if self.signer is not None:
            built = self.signer.sign(built)
        return Composed(self.bounce_from, to, built, tmpl.version, tmpl.hash)


def _view(row: Mapping[str, Any] | None, hide: tuple[str, ...] = ()) -> dict[str, Any] | None:
    # Plain dicts: the sandbox reads `customer.name_kanji` as an item (no attribute to
    # vet), which costs a fraction of a vetted attribute read on an object.
    if row is None:
        return None
    if not hide:
        return dict(row)
    return {k: v for k, v in row.items() if k not in hide}


def message_domain(domain: str) -> str:
    """The Message-ID domain as the MIME writer accepts it (IDNA), or ConfigError."""
    try:
        mid = message.message_id(1, domain)
    except (ValueError, UnicodeError) as e:
        raise ConfigError(f"OUTREACH_MAIL_DOMAIN: {e}") from None
    return mid.rsplit("@", 1)[1].rstrip(">")


def from_settings(settings: Settings) -> TemplateComposer:
    mail_dir = settings.templates_dir / "mail"
    registry = purposes.load(settings.config_dir / "purposes.toml")
    return TemplateComposer(
        renderer=environment.Renderer(environment.make(mail_dir)),
        catalog=templates.load(mail_dir, registry),
        registry=registry,
        read_include=templates.file_loader(mail_dir),
        dealer=dealer_mod.load(settings.config_dir / "dealer.toml"),
        key_ring=keys.ring(settings),
        base_url=settings.base_url,
        mail_domain=settings.mail_domain,
        reminder_from=settings.reminder_from,
        campaign_from=settings.campaign_from,
        bounce_from=settings.reminder_from,
        unsubscribe_mailto=settings.unsubscribe_mailto,
        signer=dkim.from_settings(settings),
    )
