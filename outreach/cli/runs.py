"""`outreach run-daily`, `outreach runs` and `outreach scheduler`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from outreach import bootstrap, labels
from outreach import runs as run_log
from outreach.cli import common
from outreach.cli.progress import Meter


@click.command("run-daily")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Run date YYYY-MM-DD (default: today in Asia/Tokyo).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Decide but record, queue and write nothing (the only way to run a future date).",
)
@common.json_option
def run_daily(day: dt.datetime | None, dry_run: bool, as_json: bool) -> None:
    """Run the daily reminder run once by hand and print its summary."""
    from outreach import clock, daily

    async def _go(app: bootstrap.App) -> dict[str, Any]:
        app.validate()  # a broken policy file stops the run before it reads a customer
        today = clock.today(app.clock)
        if day is not None and day.date() > today and not dry_run:
            # A run dated ahead would send today what may only go out later (a booking
            # invitation before the R31 window opens, "1か月前" a month early).
            raise common.Failure(
                f"実行日 {day.date().isoformat()} は今日（{today.isoformat()}）より後です。"
                "先の日付は --dry-run でのみ確認できます",
                2,
            )
        with Meter("リマインド処理", None, json_lines=as_json) as meter:
            summary = await daily.run(
                app, day.date() if day else None, dry_run=dry_run, progress=meter.update
            )
        return summary.as_dict()

    result = common.run_app(_go)
    common.emit(result, as_json, _print_summary)


def _print_summary(s: dict[str, Any]) -> None:
    w = s["window"]
    click.echo(
        f"日次リマインド {labels.when(s['date'])}"
        f"（対象期間 {labels.when(w['after'])} の翌日〜{labels.when(w['through'])}）"
        + ("［試行のみ・記録しません］" if s["dry_run"] else "")
    )
    click.echo(
        f"  候補 {s['candidates']:,}  登録済み {s['already_queued']:,}  許可 {s['allowed']:,}  "
        f"除外 {s['denied']:,}  保留 {s['deferred']:,}  新たに登録 {s['queued']:,}  "
        f"要確認 {s['flags']:,}"
    )
    for code, n in s["denied_by_reason"].items():
        click.echo(f"  除外の理由「{labels.label('reason', code)}」: {n:,} 件")
    for key, counts in s["by_kind_stage_channel"].items():
        parts = "  ".join(f"{labels.label('summary', k)} {v:,}" for k, v in sorted(counts.items()))
        click.echo(f"  {_kind_stage_channel(key)}: {parts}")
    for f in s["files"]:
        click.echo(f"  出力 {f}")


def _kind_stage_channel(key: str) -> str:
    """`shaken/2/email` → 車検・第2段・電子メール."""
    kind, _, rest = key.partition("/")
    stage, _, channel = rest.partition("/")
    return f"{labels.label('kind', kind)}・第{stage}段・{labels.label('channel', channel)}"


@click.command("runs")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 10_000))
@common.json_option
def runs(limit: int, as_json: bool) -> None:
    """List stored runs, newest first, with their summaries."""

    async def _go(app: bootstrap.App) -> list[dict[str, Any]]:
        async with app.sessions() as session:
            return await run_log.recent(session, limit)

    def human(items: list[dict[str, Any]]) -> None:
        if not items:
            click.echo("実行履歴はありません")
        for r in items:
            s = r["summary"] or {}
            click.echo(
                f"{r['id']:>6}  {labels.label('run_kind', r['kind'])}  "
                f"{labels.when(r['run_date']) if r['run_date'] else '—'}  "
                f"{labels.label('run_status', r['status'])}"
                f"{'（試行のみ）' if r['dry_run'] else ''}  候補 {s.get('candidates', '—')}  "
                f"新たに登録 {s.get('queued', '—')}  開始 {labels.when(r['started_at'])}"
            )

    common.emit(common.run_app(_go), as_json, human)


@click.command("scheduler")
@click.option(
    "--retry-seconds",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="How often a standby tries to become leader (and the leader renews).",
)
@click.option(
    "--lease-seconds",
    default=30.0,
    show_default=True,
    type=click.FloatRange(1, 86400),
    help="SQLite only: how long the lease row outlives a dead holder.",
)
def scheduler(retry_seconds: float, lease_seconds: float) -> None:
    """Run the job scheduler (jobs/*.toml) in the foreground until Ctrl-C or SIGTERM.

    However many processes run it against one PostgreSQL database, only the holder of the
    leader lock fires jobs; the others stand by and take over when it dies. On SQLite run
    the scheduler in one process only.
    """
    from outreach import schedule

    async def _go(app: bootstrap.App) -> None:
        app.validate()  # the jobs it fires read the policy: check it before leading
        await schedule.serve_forever(
            app,
            retry=dt.timedelta(seconds=retry_seconds),
            ttl=dt.timedelta(seconds=lease_seconds),
            announce=lambda m: click.echo(m, err=True),
        )

    common.run_app(_go)


def register(cli: click.Group) -> None:
    cli.add_command(run_daily)
    cli.add_command(runs)
    cli.add_command(scheduler)
