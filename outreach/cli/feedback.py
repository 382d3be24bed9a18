"""`outreach feedback ingest | rates | dmarc`: bounces, complaints and DMARC reports.

Exit codes: 0 ok, 1 some mails were not reports or could not be read (listed), 2 usage or
configuration error (no mailbox, unreachable database).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from outreach import bootstrap, clock
from outreach.cli import common
from outreach.feedback import config, ingest, rates, service, summary

OUTCOMES = {
    "suppressed": "送信停止に登録",
    "counted": "ソフトバウンスを計数",
    "noted": "遅延通知（記録のみ）",
    "ignored": "対象外",
    "opted_out": "広告メールの配信停止を記録",
    "already_opted_out": "配信停止済み",
    "unmatched": "該当する送信・顧客なし",
    "recorded": "DMARCレポートを記録",
}
LEVELS = {"ok": "正常", "alert": "警告", "pause": "配信停止", "low_volume": "件数不足"}
STREAMS = {"campaign": "キャンペーン", "reminder": "リマインド"}


@click.group("feedback")
def feedback_group() -> None:
    """Bounces (DSN), complaints (ARF / Yahoo CFL) and DMARC aggregate reports."""


@feedback_group.command("ingest")
@click.option(
    "--maildir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Maildir the report address delivers to (default: OUTREACH_FEEDBACK_MAILDIR).",
)
@click.option("--imap", is_flag=True, help="Read OUTREACH_FEEDBACK_IMAP_URL instead.")
@common.json_option
def ingest_cmd(maildir: Path | None, imap: bool, as_json: bool) -> None:
    """Read the report mailbox: hard bounces suppress, soft bounces count, complaints opt out.

    Idempotent: a report already recorded is counted as a duplicate and changes nothing.
    """
    if maildir is not None and imap:
        raise common.Failure("--maildir and --imap exclude each other")

    async def _go(app: bootstrap.App) -> ingest.Result:
        return await service.run(app, maildir=maildir, imap=imap)

    result = common.run_app(_go)

    def human(_: Any) -> None:
        for src, why in result.rejected:
            click.echo(f"読めないメール {src}: {why}")
        parts = [f"{OUTCOMES.get(k, k)} {n}" for k, n in sorted(result.counts.items())]
        click.echo(
            f"{result.messages} 通: "
            + ("、".join(parts) or "記録なし")
            + f"、重複 {result.duplicates}、読めない {len(result.rejected)}"
        )
        for a in result.alerts:
            click.echo(f"警告: {_rate_line(a)}")
        if result.paused:
            click.echo(f"苦情率が停止基準を超えたため一時停止したキャンペーン: {result.paused}")

    common.emit(result.as_dict(), as_json, human)
    if result.rejected:
        raise SystemExit(1)


@feedback_group.command("rates")
@click.option("--days", type=click.IntRange(1, 366), default=14, show_default=True)
@click.option(
    "--date",
    "last_day",
    callback=common.parse_day,
    help="The last day shown (default: today, JST).",
)
@common.json_option
def rates_cmd(days: int, last_day: dt.date | None, as_json: bool) -> None:
    """Complaint rate per JST day and stream, with the level it reaches."""

    async def _go(app: bootstrap.App) -> list[rates.Rate]:
        cfg = config.load(app.settings.config_dir / "feedback.toml")
        last = last_day or clock.today(app.clock)
        async with app.sessions() as s:
            return await rates.load(s, last - dt.timedelta(days=days - 1), last, cfg)

    found = common.run_app(_go)

    def human(_: Any) -> None:
        if not found:
            click.echo("送信も苦情もありません")
        for r in found:
            click.echo(_rate_line(r))

    common.emit([r.as_dict() for r in found], as_json, human)


@feedback_group.command("dmarc")
@click.option("--days", type=click.IntRange(1, 366), default=14, show_default=True)
@click.option(
    "--date",
    "last_day",
    callback=common.parse_day,
    help="The last day shown (default: today, JST).",
)
@common.json_option
def dmarc_cmd(days: int, last_day: dt.date | None, as_json: bool) -> None:
    """DMARC aggregate reports summarised per day and source: aligned SPF / DKIM."""

    async def _go(app: bootstrap.App) -> list[summary.DaySource]:
        last = last_day or clock.today(app.clock)
        async with app.sessions() as s:
            return await summary.dmarc(s, last - dt.timedelta(days=days - 1), last)

    found = common.run_app(_go)

    def human(_: Any) -> None:
        if not found:
            click.echo("DMARCレポートはありません")
        for d in found:
            click.echo(
                f"{d.day.isoformat()} {d.source_ip} {d.domain}: {d.messages} 通、"
                f"DKIM整合 {d.dkim_pass}、SPF整合 {d.spf_pass}、不合格 {d.failed}"
            )

    common.emit([d.as_dict() for d in found], as_json, human)


def _rate_line(r: rates.Rate) -> str:
    return (
        f"{r.day.isoformat()} {STREAMS.get(r.stream, r.stream)}: 苦情 {r.complaints} / "
        f"送信 {r.sent}（{r.rate * 100:.3f}%）{LEVELS.get(r.level, r.level)}"
    )


def register(cli: click.Group) -> None:
    cli.add_command(feedback_group)
