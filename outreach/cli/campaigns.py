"""`outreach campaign create|list|show|approve|schedule|pause|resume|cancel|preview`.

The same service functions as the console and the API; `--as USER` names the staff member
acting (or OUTREACH_STAFF_USER), whose role decides what is allowed, and who is audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import bootstrap, labels
from outreach.cli import common
from outreach.clock import JST
from outreach.db.models import Campaign, StaffUser
from outreach.errors import InputRejected
from outreach.staff import campaigns, preview, roles, sending, users
from outreach.staff import rules as rules_mod
from outreach.staff import spec as spec_mod

as_option = click.option(
    "--as",
    "as_user",
    envvar="OUTREACH_STAFF_USER",
    required=True,
    help="Staff username acting (env OUTREACH_STAFF_USER).",
)


@click.group("campaign")
def campaign_group() -> None:
    """Campaigns: define, approve (four-eyes), schedule, pause, resume, cancel, preview."""


async def _actor(s: AsyncSession, username: str) -> StaffUser:
    u = await users.by_username(s, username)
    if u is None or not u.active:
        raise InputRejected(f"有効なスタッフユーザー {username} はいません")
    return u


def summary(c: Campaign) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "purpose": c.purpose,
        "category": c.category,
        "channels": list(c.channels),
        "status": c.status,
        "version": c.version,
        "created_by": c.created_by,
        "approved_by": c.approved_by,
        "approved_version": c.approved_version,
        "schedule_at": c.schedule_at.isoformat() if c.schedule_at else None,
        "rate_per_second": c.rate_per_second,
    }


def _human(d: dict[str, Any]) -> None:
    label = campaigns.STATUS_LABELS.get(d["status"], d["status"])
    when = f"、配信 {labels.when(d['schedule_at'])}" if d.get("schedule_at") else ""
    click.echo(
        f"{d['id']:>5} ［{label}］ 版{d['version']} {d['name']} "
        f"（利用目的{labels.purpose_number(d['purpose'])}、作成 {d['created_by']}"
        + (f"、承認 {d['approved_by']}（版{d['approved_version']}）" if d["approved_by"] else "")
        + when
        + "）"
    )


@campaign_group.command("create")
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="campaign.toml",
)
@as_option
@common.json_option
def create(path: Path, as_user: str, as_json: bool) -> None:
    """Create a draft campaign from a TOML file (validated against its purpose)."""

    async def _go(app: bootstrap.App) -> dict[str, Any]:
        s_ = spec_mod.load_file(path)
        rules = rules_mod.RegistryRules(app.policy.registry)
        async with app.sessions() as s, s.begin():
            actor = await _actor(s, as_user)
            c = await campaigns.create(s, s_, rules, actor=actor, now=app.clock.now())
            return summary(c)

    common.emit(_run(_go), as_json, _human)


def _run(fn: Callable[[bootstrap.App], Awaitable[Any]]) -> Any:
    return common.run_app(fn)


@campaign_group.command("list")
@common.json_option
def list_(as_json: bool) -> None:
    """List campaigns, newest first."""

    async def _go(app: bootstrap.App) -> list[dict[str, Any]]:
        async with app.sessions() as s:
            return [summary(c) for c in await campaigns.all_campaigns(s)]

    def human(rows: list[dict[str, Any]]) -> None:
        for r in rows:
            _human(r)

    common.emit(_run(_go), as_json, human)


@campaign_group.command("show")
@click.argument("campaign_id", type=int)
@common.json_option
def show(campaign_id: int, as_json: bool) -> None:
    """Show one campaign with its full definition."""

    async def _go(app: bootstrap.App) -> dict[str, Any]:
        async with app.sessions() as s:
            c = await campaigns.get(s, campaign_id)
            return {**summary(c), "definition": campaigns.spec_of(c).snapshot()}

    def human(d: dict[str, Any]) -> None:
        _human(d)
        for cond in d["definition"]["audience"]:
            field = spec_mod.AUDIENCE_FIELDS.get(cond["field"])
            value = cond["value"]
            shown = "、".join(map(str, value)) if isinstance(value, list) else str(value)
            click.echo(
                f"      条件: {field.label if field else cond['field']} "
                f"{labels.label('op', cond['op'])} {shown}"
            )
        click.echo(f"      件名: {d['definition']['subject_template']}")

    common.emit(_run(_go), as_json, human)


def _transition(
    name: str,
    doc: str,
    call: Callable[[AsyncSession, int, StaffUser, bootstrap.App], Awaitable[Campaign]],
) -> click.Command:
    @click.command(name, help=doc)
    @click.argument("campaign_id", type=int)
    @as_option
    @common.json_option
    def command(campaign_id: int, as_user: str, as_json: bool) -> None:
        async def _go(app: bootstrap.App) -> dict[str, Any]:
            async with app.sessions() as s, s.begin():
                actor = await _actor(s, as_user)
                return summary(await call(s, campaign_id, actor, app))

        common.emit(_run(_go), as_json, _human)

    return command


campaign_group.add_command(
    _transition(
        "pause",
        "Pause a scheduled or running campaign (its queued messages wait).",
        lambda s, cid, a, app: campaigns.pause(s, cid, actor=a, now=app.clock.now()),
    )
)
campaign_group.add_command(
    _transition(
        "resume",
        "Resume a paused campaign.",
        lambda s, cid, a, app: campaigns.resume(s, cid, actor=a, now=app.clock.now()),
    )
)
campaign_group.add_command(
    _transition(
        "cancel",
        "Cancel a campaign; queued messages are cancelled.",
        lambda s, cid, a, app: campaigns.cancel(s, cid, actor=a, now=app.clock.now()),
    )
)


@campaign_group.command("approve")
@click.argument("campaign_id", type=int)
@click.option("--version", "version", type=int, required=True, help="The exact version approved.")
@click.option(
    "--certify-non-advertising",
    "certify",
    is_flag=True,
    help="Certify that a service notice filed as not advertising holds no promotion (audited).",
)
@as_option
@common.json_option
def approve(campaign_id: int, version: int, certify: bool, as_user: str, as_json: bool) -> None:
    """Approve exactly VERSION of a campaign (an approver other than its creator)."""

    async def _go(app: bootstrap.App) -> dict[str, Any]:
        rules = rules_mod.RegistryRules(app.policy.registry)
        async with app.sessions() as s, s.begin():
            actor = await _actor(s, as_user)
            c = await campaigns.approve(
                s,
                campaign_id,
                version,
                rules,
                actor=actor,
                now=app.clock.now(),
                certify_non_advertising=certify,
            )
            return summary(c)

    common.emit(_run(_go), as_json, _human)


@campaign_group.command("schedule")
@click.argument("campaign_id", type=int)
@click.option("--at", "at", default=None, help="Date and time in JST, e.g. 2026-12-01T10:00.")
@as_option
@common.json_option
def schedule(campaign_id: int, at: str | None, as_user: str, as_json: bool) -> None:
    """Schedule an approved campaign (at its own time, --at, or now)."""
    when: dt.datetime | None = None
    if at is not None:
        try:
            when = dt.datetime.fromisoformat(at)
        except ValueError:
            raise common.Failure(f"--at: not a date and time: {at!r}", 2) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=JST)

    async def _go(app: bootstrap.App) -> dict[str, Any]:
        async with app.sessions() as s, s.begin():
            actor = await _actor(s, as_user)
            c = await campaigns.schedule(s, campaign_id, actor=actor, now=app.clock.now(), at=when)
            return summary(c)

    common.emit(_run(_go), as_json, _human)


@campaign_group.command("run-due")
@common.json_option
def run_due(as_json: bool) -> None:
    """Fire every scheduled campaign whose time has come (what jobs/campaigns.toml runs)."""

    def human(rows: list[sending.FireResult]) -> None:
        if not rows:
            click.echo("配信時刻を迎えたキャンペーンはありません")
        for r in rows:
            if r.skipped is not None:
                why = "配信時刻前" if r.skipped == "not due" else "予約済みの最新版ではない"
                click.echo(f"キャンペーン {r.campaign_id}: 今回は送りません（{why}）")
                continue
            click.echo(
                f"キャンペーン {r.campaign_id}: 対象 {r.audience} 人、"
                f"送信予定 {r.queued} 通、除外 {r.denied}、延期 {r.deferred}"
            )

    fired = _run(sending.run_due)
    if as_json:
        common.emit([r.to_json() for r in fired], as_json, human)
    else:
        human(fired)


@campaign_group.command("preview")
@click.argument("campaign_id", type=int)
@click.option("--samples/--no-samples", default=False, help="Also render three samples.")
@click.option(
    "--at",
    "at",
    default=None,
    help="Send time in JST (2026-01-31T10:00); default: the next time the window is open.",
)
@as_option
@common.json_option
def preview_cmd(
    campaign_id: int, samples: bool, at: str | None, as_user: str, as_json: bool
) -> None:
    """Audience size, allowed count and count per gate reason at the send time (the gate's
    batch path; the console's preview shows the same numbers)."""
    when = _at(at)

    async def _go(app: bootstrap.App) -> dict[str, Any]:
        rules = rules_mod.RegistryRules(app.policy.registry)
        ctx = app.policy.gate
        s_ = app.settings
        kit = (
            preview.kit(
                s_.templates_dir,
                s_.config_dir,
                s_.base_url,
                registry=ctx.registry,
                dealer=app.policy.dealer,
            )
            if samples
            else None
        )
        async with app.sessions() as s, s.begin():
            actor = await _actor(s, as_user)
            roles.require(actor.role, "campaign.preview")
            c = await campaigns.get(s, campaign_id)
            p = await preview.preview(
                s,
                ctx,
                c,
                rules,
                now=app.clock.now(),
                actor=actor.username,
                sample_kit=kit,
                with_samples=samples,
                at=when,
            )
            return p.as_dict()

    def human(d: dict[str, Any]) -> None:
        click.echo(f"{labels.when(d['at'])} に送信した場合:")
        for ch in d["channels"]:
            click.echo(
                f"{labels.label('channel', ch['channel'])}: 対象 {ch['audience']:,} 人、"
                f"送信可 {ch['allowed']:,}、除外 {ch['denied']:,}、延期 {ch['deferred']:,}"
            )
            for r in ch["rows"]:
                click.echo(f"  {r['count']:>8,} 人  {r['label']}")
            click.echo(f"  {sum(r['count'] for r in ch['rows']):>8,} 人  合計")
        for sample in d["samples"]:
            click.echo(f"--- 顧客 {sample['customer_id']}: {sample['subject']}")
            click.echo(sample["text"])
        click.echo(f"({d['seconds']} 秒)")

    common.emit(_run(_go), as_json, human)


def _at(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"日時ではありません: {value!r}", param_hint="--at") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=JST)


def register(cli: click.Group) -> None:
    cli.add_command(campaign_group)
