"""`outreach gate explain` and `outreach gate audit`."""

from __future__ import annotations

import datetime as dt
import functools
import getpass
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from sqlalchemy import ColumnElement, select

from outreach import bootstrap, labels
from outreach.cli import common
from outreach.clock import JST
from outreach.db.models import Customer, Store
from outreach.gate import audit as audit_mod
from outreach.gate import explain as explain_mod
from outreach.gate import reasons
from outreach.gate.context import GateContext
from outreach.gate.decision import CHANNELS, Request
from outreach.staff import audit as staff_audit

_ADVERTISING = {"yes": True, "no": False, "unclassified": None}
# --filter KEY=VALUE: the customer columns an audit may be narrowed by.
_FILTERS = ("status", "acquisition", "store", "prefecture", "notice_version", "joint_use_partner")


# The options that make a gate Request (the keywords of `_request`).
_REQUEST_KEYS = (
    "purpose",
    "channel",
    "template",
    "items",
    "advertising",
    "kind",
    "campaign_id",
    "insurer",
    "data_insurer",
    "topic",
)


def _request_options(f: Any) -> Any:
    """The request options (and --at, --json); the command receives the request's as one
    `ask`, the keywords of `_request`."""

    @functools.wraps(f)
    def command(**kw: Any) -> Any:
        ask = {k: kw.pop(k) for k in _REQUEST_KEYS}
        return f(ask=ask, **kw)

    options = [
        click.option("--purpose", required=True, help="Purpose id from config/purposes.toml."),
        click.option("--channel", required=True, type=click.Choice(CHANNELS)),
        click.option(
            "--template",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Template file: its data items are found from the fields it uses.",
        ),
        click.option("--items", default="", help="Comma-separated data item ids (added)."),
        click.option(
            "--advertising",
            type=click.Choice(tuple(_ADVERTISING)),
            default="yes",
            show_default=True,
            help="Whether the message is advertising (R14); 'yes' is the conservative default.",
        ),
        click.option("--kind", default=None, help="Message kind (shaken, campaign, …)."),
        click.option("--campaign", "campaign_id", type=int, default=None),
        click.option("--insurer", default=None, help="The insurer a (8) proposal is about."),
        click.option(
            "--data-insurer", default=None, help="The insurer partition of the policy data used."
        ),
        click.option("--topic", default=None, help="What a (3) message is about (topics)."),
        click.option(
            "--at",
            "at",
            default=None,
            help="Decide as of this time (ISO 8601, default now; naive = Asia/Tokyo).",
        ),
        common.json_option,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _at(value: str | None, app: bootstrap.App) -> dt.datetime:
    if value is None:
        return app.clock.now()
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise common.Failure(f"--at: {value!r} is not an ISO 8601 date-time", 2) from None
    return t if t.tzinfo else t.replace(tzinfo=JST)


def _request(
    ctx: GateContext,
    *,
    purpose: str,
    channel: str,
    template: Path | None,
    items: str,
    advertising: str,
    kind: str | None,
    campaign_id: int | None,
    insurer: str | None = None,
    data_insurer: str | None = None,
    topic: str | None = None,
) -> tuple[Request, frozenset[str]]:
    fields: frozenset[str] = frozenset()
    item_ids = {i.strip() for i in items.split(",") if i.strip()}
    for i in item_ids:
        if i not in ctx.registry.items:
            raise common.Failure(f"--items: unknown data item {i!r}", 2)
    if template is not None:
        fields, found = explain_mod.template_items(ctx, template)
        item_ids |= found
    req = Request(
        purpose=purpose,
        channel=channel,
        items=frozenset(item_ids),
        advertising=_ADVERTISING[advertising],
        kind=kind,
        campaign_id=campaign_id,
        insurer=insurer,
        data_insurer=data_insurer,
        topic=topic,
    )
    return req, fields


def _filters(values: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for v in values:
        key, sep, value = v.partition("=")
        key = key.strip()
        if not sep or key not in _FILTERS:
            raise click.BadParameter(
                f"{v!r}: use KEY=VALUE with KEY one of {', '.join(_FILTERS)}", param_hint="--filter"
            )
        out.append((key, value.strip()))
    return out


async def _where(session: Any, filters: Sequence[tuple[str, str]]) -> list[ColumnElement[bool]]:
    c = Customer.__table__.c
    where: list[ColumnElement[bool]] = []
    for key, value in filters:
        if key == "store":
            sid = (await session.execute(select(Store.id).where(Store.code == value))).scalar()
            if sid is None:
                raise common.Failure(f"--filter store={value}: no such store code", 2)
            where.append(c.store_id == sid)
        elif key == "notice_version":
            if not value.isdigit():
                raise common.Failure(f"--filter notice_version={value}: not a number", 2)
            where.append(c.notice_version == int(value))
        else:
            where.append(c[key] == value)
    return where


@click.group("gate")
def gate_group() -> None:
    """The consent and purpose gate: explain one decision, audit a population.

    Exit codes: 0 when the gate answered (a denial is an answer, not an error); 1 for a
    template that cannot be read or parsed; 2 for usage, configuration (purposes.toml,
    gate.toml) or an unknown customer, store or data field.
    """


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


@gate_group.command("explain")
@click.option("--customer", "customer_id", type=int, required=True, help="Customer id.")
@_request_options
def explain_cmd(
    customer_id: int,
    ask: dict[str, Any],
    at: str | None,
    as_json: bool,
) -> None:
    """Decide for one customer and show every reason (Japanese and English) and the consent
    ledger events behind it."""

    async def go(app: bootstrap.App) -> explain_mod.Explanation:
        ctx = app.policy.gate
        req, fields = _request(ctx, **ask)
        async with app.sessions() as session, session.begin():
            found = await explain_mod.explain(
                session,
                ctx,
                customer_id,
                req,
                _at(at, app),
                template=str(ask["template"]) if ask["template"] else None,
                fields=fields,
            )
            # The explanation shows the customer's consent ledger: a read of personal data
            # (R11), audited in the same transaction.
            await staff_audit.read(
                session,
                actor=f"cli:{_user()}",
                customer_id=customer_id,
                what=f"gate explain {ask['purpose']}/{ask['channel']}",
                now=app.clock.now(),
            )
            return found

    result = common.run_app(go)
    common.emit(result.as_dict(), as_json, lambda _: click.echo(explain_mod.text(result)))


@gate_group.command("audit")
@_request_options
@click.option(
    "--filter",
    "filters",
    multiple=True,
    help=f"KEY=VALUE on customers ({', '.join(_FILTERS)}); repeatable, all must match.",
)
def audit_cmd(
    ask: dict[str, Any],
    at: str | None,
    as_json: bool,
    filters: tuple[str, ...],
) -> None:
    """Count allowed, deferred and each denial reason over all (or the filtered) customers."""
    parsed = _filters(filters)

    async def go(app: bootstrap.App) -> dict[str, Any]:
        ctx = app.policy.gate
        req, _ = _request(ctx, **ask)
        async with app.sessions() as session:
            where = await _where(session, parsed)
            tally = await audit_mod.audit(session, ctx, req, _at(at, app), where=where)
        return {
            "purpose": ask["purpose"],
            "channel": ask["channel"],
            "items": sorted(req.items),
            "filters": dict(parsed),
            **tally.as_dict(),
        }

    common.emit(common.run_app(go), as_json, _print_audit)


def _print_audit(d: dict[str, Any]) -> None:
    click.echo(f"対象: {d['total']:,} 人")
    click.echo(f"送信可: {d['allowed']:,} 人")
    click.echo(f"延期: {d['deferred']:,} 人")
    click.echo(f"送信不可: {d['denied']:,} 人")
    click.echo("理由（1人が複数に当たることがあります）:")
    for code, n in d["reasons"].items():
        r = reasons.get(code)
        click.echo(f"  {n:>10,} 人  {labels.label('reason', code)} — {r.ja}")


def register(cli: click.Group) -> None:
    cli.add_command(gate_group)
