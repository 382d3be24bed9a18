"""`outreach policy render|changes|notify-list|notified` (R10, R2)."""

from __future__ import annotations

import csv
import getpass
import io
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from outreach import bootstrap
from outreach.cli import common
from outreach.policy import document, notice
from outreach.render import dealer as dealer_mod
from outreach.settings import load as load_settings


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


@click.group("policy")
def policy_group() -> None:
    """The published privacy policy, generated from the registry, and notice of changes."""


@policy_group.command("render")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None)
def render_cmd(out: Path | None) -> None:
    """Write the privacy policy page (HTML) generated from purposes.toml, dealer.toml and
    policy.toml; to stdout without --out. Exit 2 while a value it prints is a placeholder."""
    s = load_settings()
    try:
        dealer_file = dealer_mod.path(s)
        document.require_publishable(s.config_dir, dealer_file)
        p = bootstrap.load_policy(s)
        doc = document.load(s.config_dir, dealer_file, registry=p.registry, dealer=p.dealer)
        html = document.render(doc, s.templates_dir)
    except Exception as e:  # ConfigError and template errors: one line
        raise common.Failure(str(e), 2) from None
    if out is None:
        click.echo(html, nl=False)
        return
    try:
        out.write_text(html, encoding="utf-8")
    except OSError as e:
        raise common.Failure(f"{out}: cannot write: {e}", 2) from None
    click.echo(f"プライバシーポリシー → {out}")


@policy_group.command("notify-list")
@click.option("--csv", "as_csv", is_flag=True, help="CSV for a letter or mail batch.")
@common.json_option
def notify_list_cmd(as_csv: bool, as_json: bool) -> None:
    """What the current version added, and the customers to notify of it (shown an older
    version). The gate applies R2 to them until they are notified."""

    async def go(app: bootstrap.App) -> dict[str, Any]:
        reg = app.policy.registry
        async with app.sessions() as session:
            people = await notice.to_notify(session, reg)
        return {"change": notice.changes(reg).as_dict(), "customers": [asdict(p) for p in people]}

    d = common.run_app(go)
    if as_csv:
        buf = io.StringIO()
        w = csv.DictWriter(
            buf,
            fieldnames=["customer_id", "external_id", "name", "notice_version", "via"],
            lineterminator="\n",
        )
        w.writeheader()
        w.writerows(d["customers"])
        click.echo(buf.getvalue(), nl=False)
        return

    def human(d: dict[str, Any]) -> None:
        ch = d["change"]
        click.echo(f"第{ch['version']}版で追加された利用目的: {len(ch['purposes'])} 件")
        for p in ch["purposes"]:
            click.echo(f"  {p}")
        click.echo(f"第{ch['version']}版で追加された共同利用者: {len(ch['joint_users'])} 件")
        for g in ch["joint_users"]:
            click.echo(f"  {g}")
        click.echo(f"通知が必要なお客様: {len(d['customers']):,} 名")

    common.emit(d, as_json, human)


@policy_group.command("notified")
@click.option(
    "--file",
    "path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="CSV with a customer_id column (e.g. the notify-list output, as sent).",
)
@click.option("--via", type=click.Choice(["post", "email", "published"]), required=True)
@common.json_option
def notified_cmd(path: Path, via: str, as_json: bool) -> None:
    """Record that the listed customers were notified of the current version."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            ids = [int(r["customer_id"]) for r in csv.DictReader(f)]
    except (KeyError, ValueError) as e:
        raise common.Failure(f"{path}: needs a customer_id column of numbers ({e})", 1) from None

    async def go(app: bootstrap.App) -> dict[str, Any]:
        reg = app.policy.registry
        async with app.sessions() as session:
            n = await notice.mark_notified(
                session, reg, ids, via=via, actor=f"cli:{_user()}", now=app.clock.now()
            )
        return {"version": reg.version, "notified": n, "listed": len(ids)}

    common.emit(
        common.run_app(go),
        as_json,
        lambda d: click.echo(f"第{d['version']}版の通知を記録: {d['notified']:,} 名"),
    )


def register(cli: click.Group) -> None:
    cli.add_command(policy_group)
