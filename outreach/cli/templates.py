"""`outreach templates check|preview`: lint the mail templates, preview one with sample data."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click

from outreach import labels
from outreach import settings as settings_mod
from outreach.cli import common
from outreach.clock import JST, SystemClock
from outreach.errors import OutreachError
from outreach.gate import fake
from outreach.gate.context import load_context
from outreach.gate.decision import Permit, Request
from outreach.render import compose, context, golive, message, sample, templates
from outreach.render import dealer as dealer_mod


def _catalog(s: settings_mod.Settings) -> templates.Catalog:
    return templates.load(s.templates_dir / "mail", load_context(s.config_dir).registry)


def register(cli: click.Group) -> None:
    @cli.group("templates")
    def group() -> None:
        """Mail templates: check them against the purpose registry, preview one."""

    @group.command("check")
    @common.json_option
    def check(as_json: bool) -> None:
        """Load every template under templates/mail/ and apply the load-time checks
        (purpose items, sensitive fields, classification), and the go-live guard on the
        sender's details. Exit 2 if any template is refused or a placeholder is left."""
        s = settings_mod.load()
        try:
            catalog = _catalog(s).require_all()
            golive.require_live(
                dealer_mod.path(s), s.config_dir / "purposes.toml", what="templates check",
                policy_file=s.config_dir / "policy.toml",
            )  # fmt: skip
        except OutreachError as e:
            raise common.Failure(str(e), e.exit_code) from None
        rows = [
            {
                "name": t.name,
                "purpose": t.meta.purpose,
                "advertising": t.meta.advertising,
                "advertising_reason": t.meta.advertising_reason,
                "stream": t.meta.stream,
                "channels": {c: sorted(t.items_for(c)) for c in sorted(t.channels)},
                "version": t.version,
                "hash": t.hash,
            }
            for t in catalog.templates.values()
        ]

        def human(data: list[dict[str, Any]]) -> None:
            for r in data:
                ad = "広告" if r["advertising"] else "通知"
                click.echo(
                    f"{r['name']:<28} 利用目的{labels.purpose_number(r['purpose'])} {ad} "
                    f"{r['hash'][:12]}"
                )
                click.echo(f"    分類の理由: {r['advertising_reason']}")
                for channel, items in r["channels"].items():
                    used = "、".join(labels.label("data_item", i) for i in items)
                    click.echo(f"    {labels.label('channel', channel)}: {used}")
            click.echo(f"テンプレート {len(data)} 件: 問題なし")

        common.emit(rows, as_json, human)

    @group.command("preview")
    @click.argument("name")
    @click.option(
        "--channel",
        type=click.Choice(["email", "post", "phone"]),
        default="email",
        show_default=True,
    )
    @click.option("--eml", is_flag=True, help="Print the complete MIME message (email only).")
    def preview(name: str, channel: str, eml: bool) -> None:
        """Render template NAME with sample data (a made-up customer), through the same
        composer as the worker: only the data the purpose grants, the sender display added."""
        s = settings_mod.load()
        try:
            ctx = load_context(s.config_dir)
            catalog = templates.load(s.templates_dir / "mail", ctx.registry)
            tmpl = catalog.get(name)
            mail = compose.mail_renderer(s, ctx.registry)
            now = SystemClock().now()
            permit = _sample_permit(ctx, tmpl, channel, now)
            roots = sample.context(mail.dealer, now.astimezone(JST).date(), base_url=s.base_url)
            links = context.Links(
                id=0,
                message_id=message.message_id(0, s.mail_domain),
                optout_url=roots["message"].optout_url,
                preferences_url=roots["message"].preferences_url,
                advertising=permit.advertising,
            )
            if channel != "email":
                click.echo(mail.render_channel(tmpl, permit, roots, links), nl=False)
                return
            out = mail.render(tmpl, permit, roots, links)
            if not eml:
                click.echo(f"件名: {out.subject}\n\n{out.text}", nl=False)
                return
            sys.stdout.buffer.write(_eml(s, mail.dealer, tmpl, out, links, now))
        except (OutreachError, ValueError) as e:
            code = e.exit_code if isinstance(e, OutreachError) else 1
            raise common.Failure(str(e), code) from None


def _sample_permit(
    ctx: Any, tmpl: templates.MailTemplate, channel: str, now: dt.datetime
) -> Permit:
    """The gate's permit for the synthetic sample customer, at a time inside the send window
    (a preview at night shows the mail, not OUTSIDE_SEND_WINDOW)."""
    day = now.astimezone(JST).date()
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    at = dt.datetime.combine(day, dt.time(12, 0), tzinfo=JST)
    request = Request(
        purpose=tmpl.meta.purpose,
        channel=channel,
        items=tmpl.items_for(channel),
        advertising=tmpl.meta.advertising,
        kind=tmpl.meta.kind,
    )
    return fake.sample_permit(ctx, request, at)


def _eml(
    s: settings_mod.Settings,
    dl: dealer_mod.Dealer,
    tmpl: templates.MailTemplate,
    out: templates.Rendered,
    links: context.Links,
    now: dt.datetime,
) -> bytes:
    stream = dl.stream(tmpl.meta.stream)
    sender = s.campaign_from if tmpl.meta.stream == "campaign" else s.reminder_from
    unsubscribe = [links.optout_url]
    if s.unsubscribe_mailto:
        unsubscribe.append(f"mailto:{s.unsubscribe_mailto}?subject=unsubscribe")
    return message.build(
        message.Mail(
            sender=message.Address(sender, stream.display_name),
            to=message.Address(fake.SAMPLE_EMAIL, "髙橋 花子"),
            subject=out.subject,
            text=out.text,
            html=out.html,
            message_id=links.message_id,
            date=now,
            list_id=message.list_id(stream.list_name, tmpl.meta.stream, s.mail_domain),
            list_unsubscribe=unsubscribe,
        )
    )
