"""`outreach compliance report --month YYYY-MM [--json] [--pdf FILE] [--html FILE]`."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import click

from outreach import bootstrap
from outreach.cli import common
from outreach.clock import JST
from outreach.compliance import pdf, report
from outreach.compliance.model import Report


@click.group("compliance")
def compliance_group() -> None:
    """The monthly compliance report (what the 個人情報保護管理者 signs off)."""


@compliance_group.command("report")
@click.option("--month", default=None, help="YYYY-MM (JST); default the month just closed.")
@click.option("--pdf", "pdf_out", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--html", "html_out", type=click.Path(path_type=Path, dir_okay=False), default=None)
@common.json_option
def report_cmd(
    month: str | None, pdf_out: Path | None, html_out: Path | None, as_json: bool
) -> None:
    """Sends by purpose, channel and basis; opt-outs; denials by reason; consent evidence;
    provisions; incidents open."""

    async def go(app: bootstrap.App) -> Report:
        now = app.clock.now()
        m = month
        if m is None:
            t = now.astimezone(JST)
            last = dt.date(t.year, t.month, 1) - dt.timedelta(days=1)
            m = f"{last.year:04d}-{last.month:02d}"
        try:
            report.month_bounds(m)
        except ValueError as e:
            raise common.Failure(f"--month: {e}", 2) from None
        reg = app.policy.registry
        async with app.sessions() as session:
            r = await report.build(session, reg, m, now)
        templates = app.settings.templates_dir
        try:
            if html_out is not None:
                await asyncio.to_thread(html_out.write_text, pdf.html(r, templates), "utf-8")
            if pdf_out is not None:
                await asyncio.to_thread(pdf_out.write_bytes, await pdf.pdf(r, templates))
        except OSError as e:
            raise common.Failure(f"cannot write the report: {e}", 2) from None
        return r

    def human(r: Report) -> None:
        click.echo(f"{r.title}（{r.period}）")
        click.echo(f"  送信・発送: {r.sends_total:,} 件")
        after = r.ads_after_optout
        click.echo(f"  配信停止・利用停止: {r.optouts_total:,} 件（停止後の広告メール {after} 件）")
        click.echo(f"  送信不可の判定: {r.denials_total:,} 件")
        click.echo(f"  提供・受領の記録: {r.provisions_total:,} 件")
        click.echo(f"  対応中の漏えい等事案: {r.incidents_open} 件")
        for path in (html_out, pdf_out):
            if path is not None:
                click.echo(f"  → {path}")

    r = common.run_app(go)
    common.emit(r.to_json() if as_json else r, as_json, human)


def register(cli: click.Group) -> None:
    cli.add_command(compliance_group)
