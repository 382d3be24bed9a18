"""`outreach incident record|from-send|list|show|notify|reported|close` (R12)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from outreach import bootstrap, labels
from outreach.cli import common
from outreach.clock import JST
from outreach.db.models import Incident
from outreach.incidents import classes
from outreach.incidents import mail as incident_mail
from outreach.incidents import register as reg_mod


def _user() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli:unknown"


def _when(value: str | None, app: bootstrap.App) -> dt.datetime:
    if value is None:
        return app.clock.now()
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise common.Failure(f"--discovered: {value!r} is not an ISO 8601 date-time", 2) from None
    return t if t.tzinfo else t.replace(tzinfo=JST)


def _rules(app: bootstrap.App) -> classes.Rules:
    return classes.load(app.settings.config_dir / "incidents.toml")


def _ja(value: str | None) -> str:
    """An ISO time or date from `describe` in Japanese form, JST."""
    if not value:
        return "-"
    if len(value) == 10:
        d = dt.date.fromisoformat(value)
        return f"{d.year}年{d.month}月{d.day}日"
    t = dt.datetime.fromisoformat(value).astimezone(JST)
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}"


def _show(d: reg_mod.Described) -> None:
    click.echo(f"#{d.id} {d.title}（{'対応中' if d.status == 'open' else '完了'}）")
    found, people = _ja(d.discovered_at), f"{d.affected:,} 名（通知済み {d.notified:,}）"
    click.echo(f"  発見: {found}  本人: {people}")
    if d.reportable:
        click.echo(f"  報告対象: {'、'.join(d.class_labels)}")
        click.echo(f"  速報期限: {_ja(d.preliminary_due_on)}  確報期限: {_ja(d.final_due_on)}")
    else:
        click.echo("  報告対象の類型に当たりません（記録のみ）")
    for h in d.history:
        what = labels.label("audit_action", h.action)
        detail = h.detail or {}
        if h.action == "incident.notified":
            how = "メール" if detail.get("via") == "email" else "郵送"
            n = detail.get("sent", detail.get("letters", 0))
            what += f"（{how} {n:,} 名）"
        click.echo(f"  {_ja(h.at)} {what}（{labels.person(h.actor, {})}）")


def _emit(d: reg_mod.Described, as_json: bool) -> None:
    common.emit(d.to_json() if as_json else d, as_json, _show)


@click.group("incident")
def incident_group() -> None:
    """The incident register: leaks, classes, 速報/確報 deadlines, notices, history."""


@incident_group.command("record")
@click.option("--title", required=True, help="What happened.")
@click.option("--discovered", default=None, help="When it was found (ISO 8601; default now).")
@click.option("--customer", "customer_ids", type=int, multiple=True, help="Affected customer id.")
@click.option(
    "--customers-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="One customer id per line.",
)
@click.option("--items", default="", help="Comma-separated data items involved.")
@click.option(
    "--class", "classes_", multiple=True, type=click.Choice(sorted(classes.CLASSES)),
    help="A reportable class that applies (over_1000 is set from the count).",
)  # fmt: skip
@click.option("--description", default="")
@common.json_option
def record_cmd(
    title: str,
    discovered: str | None,
    customer_ids: tuple[int, ...],
    customers_file: Path | None,
    items: str,
    classes_: tuple[str, ...],
    description: str,
    as_json: bool,
) -> None:
    """Record an incident; its classes and deadlines are computed at once."""
    ids = list(customer_ids)
    if customers_file is not None:
        try:
            ids += [int(x) for x in customers_file.read_text().split()]
        except ValueError:
            raise common.Failure(f"{customers_file}: one customer id per line", 1) from None

    async def go(app: bootstrap.App) -> reg_mod.Described:
        async with app.sessions() as s:
            inc = await reg_mod.record(
                s, _rules(app), title=title, discovered_at=_when(discovered, app),
                customer_ids=ids, items=[i for i in items.split(",") if i],
                classes=classes_, description=description, actor=_user(), now=app.clock.now(),
            )  # fmt: skip
            return await reg_mod.describe(s, inc.id)

    _emit(common.run_app(go), as_json)


@incident_group.command("from-send")
@click.option("--outbox", "outbox_id", type=int, required=True, help="The send log entry.")
@click.option("--discovered", default=None)
@click.option("--note", default="")
@common.json_option
def from_send_cmd(outbox_id: int, discovered: str | None, note: str, as_json: bool) -> None:
    """Mail sent to the wrong recipient, recorded from the send log in one step."""

    async def go(app: bootstrap.App) -> reg_mod.Described:
        async with app.sessions() as s:
            inc = await reg_mod.from_send_log(
                s, _rules(app), outbox_id, discovered_at=_when(discovered, app), note=note,
                actor=_user(), now=app.clock.now(),
            )  # fmt: skip
            return await reg_mod.describe(s, inc.id)

    _emit(common.run_app(go), as_json)


@incident_group.command("list")
@click.option("--open", "only_open", is_flag=True, help="Only incidents still open.")
@common.json_option
def list_cmd(only_open: bool, as_json: bool) -> None:
    """Incidents, newest first."""

    async def go(app: bootstrap.App) -> list[reg_mod.Described]:
        async with app.sessions() as s:
            q = select(Incident.id).order_by(Incident.discovered_at.desc())
            if only_open:
                q = q.where(Incident.status == "open")
            return [await reg_mod.describe(s, i) for i in (await s.scalars(q)).all()]

    found = common.run_app(go)
    common.emit([d.to_json() for d in found] if as_json else found, as_json, _list)


def _list(rows: list[reg_mod.Described]) -> None:
    if not rows:
        click.echo("記録はありません")
    for d in rows:
        _show(dataclasses.replace(d, history=()))


@incident_group.command("show")
@click.argument("incident_id", type=int)
@common.json_option
def show_cmd(incident_id: int, as_json: bool) -> None:
    """One incident with its history."""

    async def go(app: bootstrap.App) -> reg_mod.Described:
        async with app.sessions() as s:
            return await reg_mod.describe(s, incident_id)

    _emit(common.run_app(go), as_json)


@incident_group.command("notify")
@click.argument("incident_id", type=int)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True)
def notify_cmd(incident_id: int, out: Path) -> None:
    """A letter batch to every affected person not yet notified, and the notices recorded."""

    async def go(app: bootstrap.App) -> int:
        async with app.sessions() as s:
            return await reg_mod.notify_by_letter(
                s, incident_id, out, actor=_user(), now=app.clock.now()
            )

    n = common.run_app(go)
    click.echo(f"通知の郵送データ: {n:,} 通 → {out}" if n else "未通知のお客様はいません")


@incident_group.command("notify-mail")
@click.argument("incident_id", type=int)
@common.json_option
def notify_mail_cmd(incident_id: int, as_json: bool) -> None:
    """Mail the notice to every affected person not yet notified, through the gate under the
    legal obligation (no consent needed; a bounced or invalid address is refused). Those
    refused stay un-notified for the letter batch (`notify --out`)."""

    async def go(app: bootstrap.App) -> dict[str, Any]:
        ctx = app.policy.gate
        async with app.sessions() as s:
            r = await incident_mail.notify_by_mail(
                s, ctx, incident_id, settings=app.settings, actor=_user(), now=app.clock.now()
            )
        return {**r.as_dict(), "refused_text": incident_mail.refused_text(r)}

    def show(d: dict[str, Any]) -> None:
        click.echo(f"通知メール: 送信 {d['sent']:,} 通")
        if d["deferred"]:
            click.echo(f"  送信時間帯の外のため保留: {d['deferred']:,} 名（時間帯内に再実行）")
        if d["refused"]:
            click.echo(f"  送れなかったお客様: {d['refused_text']} — 郵送で通知してください")
        if d["failed"]:
            click.echo(f"  送信に失敗: {d['failed']:,} 通（再実行で再送します）")

    common.emit(common.run_app(go), as_json, show)


@incident_group.command("reported")
@click.argument("incident_id", type=int)
@click.option("--stage", type=click.Choice(["preliminary", "final"]), required=True)
def reported_cmd(incident_id: int, stage: str) -> None:
    """Record that the 速報 (preliminary) or 確報 (final) report was made."""

    async def go(app: bootstrap.App) -> None:
        async with app.sessions() as s:
            await reg_mod.reported(s, incident_id, stage, actor=_user(), now=app.clock.now())

    common.run_app(go)
    click.echo("速報を記録しました" if stage == "preliminary" else "確報を記録しました")


@incident_group.command("close")
@click.argument("incident_id", type=int)
def close_cmd(incident_id: int) -> None:
    """Close an incident (a reportable one only once reported and everyone notified)."""

    async def go(app: bootstrap.App) -> None:
        async with app.sessions() as s:
            await reg_mod.close(s, incident_id, actor=_user(), now=app.clock.now())

    common.run_app(go)
    click.echo("完了にしました")


def register(cli: click.Group) -> None:
    cli.add_command(incident_group)
