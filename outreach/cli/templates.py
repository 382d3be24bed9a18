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
from outreach.gate import purposes
from outreach.render import dealer as dealer_mod
from outreach.render import environment, message, sample, templates


def _catalog(s: settings_mod.Settings) -> templates.Catalog:
    registry = purposes.load(s.config_dir / "purposes.toml")
    return templates.load(s.templates_dir / "mail", registry)


def register(cli: click.Group) -> None:
    @cli.group("templates")
    def group() -> None:
        """Mail templates: check them against the purpose registry, preview one."""

    @group.command("check")
    @common.json_option
    def check(as_json: bool) -> None:
        """Load every template under templates/mail/ and apply the load-time checks
        (purpose items, sensitive fields, the R19 footer). Exit 2 if any is refused."""
        try:
            catalog = _catalog(settings_mod.load())
        except OutreachError as e:
            raise common.Failure(str(e), e.exit_code) from None
        rows = [
            {
                "name": t.name,
                "purpose": t.meta.purpose,
                "advertising": t.meta.advertising,
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
        """Render template NAME with sample data (a made-up customer)."""
        s = settings_mod.load()
        try:
            catalog = _catalog(s)
            tmpl = catalog.get(name)
            dl = dealer_mod.load(s.config_dir / "dealer.toml")
            renderer = environment.Renderer(environment.make(s.templates_dir / "mail"))
            now = SystemClock().now()
            ctx = sample.context(dl, now.astimezone(JST).date(), base_url=s.base_url)
            if channel != "email":
                click.echo(templates.render_channel(renderer, tmpl, channel, ctx), nl=False)
                return
            out = templates.render_email(renderer, tmpl, ctx)
            if not eml:
                click.echo(f"件名: {out.subject}\n\n{out.text}", nl=False)
                return
            sys.stdout.buffer.write(_eml(s, dl, tmpl, out, ctx, now))
        except (OutreachError, ValueError) as e:
            code = e.exit_code if isinstance(e, OutreachError) else 1
            raise common.Failure(str(e), code) from None


def _eml(
    s: settings_mod.Settings,
    dl: dealer_mod.Dealer,
    tmpl: templates.MailTemplate,
    out: templates.Rendered,
    ctx: dict[str, Any],
    now: dt.datetime,
) -> bytes:
    stream = dl.stream(tmpl.meta.stream)
    sender = s.campaign_from if tmpl.meta.stream == "campaign" else s.reminder_from
    unsubscribe = [ctx["message"].optout_url]
    if s.unsubscribe_mailto:
        unsubscribe.append(f"mailto:{s.unsubscribe_mailto}?subject=unsubscribe")
    return message.build(
        message.Mail(
            sender=message.Address(sender, stream.display_name),
            to=message.Address(ctx["customer"].email, ctx["customer"].name_kanji),
            subject=out.subject,
            text=out.text,
            html=out.html,
            message_id=message.message_id(0, s.mail_domain),
            date=now,
            list_id=message.list_id(stream.list_name, tmpl.meta.stream, s.mail_domain),
            list_unsubscribe=unsubscribe,
        )
    )
