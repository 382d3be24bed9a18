"""`outreach demo`: on an empty machine, the whole main job end to end on the embedded default.

Creates (or upgrades) the SQLite database, loads deterministic demo data once, runs the daily
reminder run for the day, and has the outbox worker send what the gate allowed into the local
mail capture (real MIME .eml files under the data folder); shows the day's print batch (CSV
and PDF), the call list and the console page of each. Running it again adds nothing: the data is
loaded once and the run is idempotent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import click

from outreach import bootstrap, calls, daily, heartbeat, labels, pipeline
from outreach import demo as demo_data
from outreach.cli import common
from outreach.cli.db import initialise
from outreach.clock import JST, FixedClock
from outreach.letters import batches
from outreach.render import dealer
from outreach.send import capture

# The daily job's hour: the demo plays the day as the scheduler would, inside the email window.
RUN_AT = dt.time(9, 0)


@click.command("demo")
@click.option("--customers", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--date", "day", callback=common.parse_day, help="The day to run (default: today in Japan)."
)
@common.json_option
def demo(customers: int, seed: int, day: dt.date | None, as_json: bool) -> None:
    """Set up the embedded database, load demo data, run the day, send into the local capture."""

    async def _go(app: bootstrap.App) -> dict[str, Any]:
        if app.settings.dealer_file is None:  # the real dealer.toml is not filled in yet
            app.settings = app.settings.model_copy(
                update={"dealer_file": app.settings.config_dir / dealer.DEMO_FILE}
            )
        today = dt.datetime.now(JST).date()
        # Reminders go out on business days only: on a day the dealer is closed the daily
        # run has nothing to do, so the demo shows the last business day instead.
        the_day = day or app.policy.reminders.calendar.last_business_day(today)
        app.clock = FixedClock(dt.datetime.combine(the_day, RUN_AT, tzinfo=JST))
        url = await initialise(app)
        existing = await demo_data.customer_count(app.engine)
        loaded = None
        if existing == 0:
            loaded = await demo_data.load(app.engine, customers=customers, seed=seed, today=the_day)
        run = await daily.run(app, the_day)
        # The outbox worker, as `outreach serve` runs it in-process (here: until the outbox
        # has nothing ready, like `outreach worker --once`), into the local capture.
        w = app.worker(transport=capture.transport(app.settings.data_dir))
        report = await heartbeat.run(app, asyncio.Event(), in_process=False, once=True, worker=w)
        sent = pipeline.summary(report)
        async with app.sessions() as session:
            today_calls = await calls.day_list(session, the_day)
            later_calls = await calls.counts_by_day(
                session, the_day + dt.timedelta(days=1), the_day + dt.timedelta(days=14)
            )
            letters = await batches.overview(session)
        console = app.settings.base_url.rstrip("/") + "/staff"
        return {
            "database": url,
            "date": the_day.isoformat(),
            "closed_today": today.isoformat() if day is None and the_day != today else None,
            "run_at": app.clock.now().isoformat(),
            "demo_data": loaded.as_dict()
            if loaded
            else {"skipped": f"{existing} customers exist", "customers": existing},
            "run": run.as_dict(),
            "delivery": sent,
            "capture_dir": str(capture.capture_dir(app.settings.data_dir).resolve()),
            "letters": [
                {
                    "batch": b.name,
                    "letters": b.letters,
                    "waiting": b.waiting,
                    **{
                        k: str(v.resolve())
                        for k, v in batches.paths(app.settings.data_dir, b.name).items()
                    },
                }
                for b in letters
                if b.name.startswith(the_day.isoformat())
            ],
            "calls": {
                "date": the_day.isoformat(),
                "count": len(today_calls),
                "later": {d.isoformat(): n for d, n in sorted(later_calls.items())},
            },
            "console": {
                "sending": f"{console}/sending",
                "letters": f"{console}/letters",
                "calls": f"{console}/calls?day={the_day.isoformat()}",
                "conversion": f"{console}/conversion",
            },
        }

    result = common.run_app(_go)
    common.emit(result, as_json, _human)


def _human(r: dict[str, Any]) -> None:
    run = r["run"]
    click.echo(f"データベース: {r['database']}")
    dd = r["demo_data"]
    if "skipped" in dd:
        click.echo(
            f"デモデータ: 既存の顧客 {dd['customers']:,} 人のデータを使います（追加しません）"
        )
    else:
        click.echo(
            f"デモデータ: 顧客 {dd['rows']['customers']:,} 人を作成（乱数の種 {dd['seed']}）"
        )
    if r.get("closed_today"):
        click.echo(
            f"{labels.when(r['closed_today'])}は休業日でご案内を送らないため、"
            f"直前の営業日 {labels.when(r['date'])} の分を実行します"
        )
    click.echo(f"{labels.when(r['date'])}の日次リマインド（実行時刻 {labels.when(r['run_at'])}）:")
    click.echo(
        f"  候補 {run.get('candidates', 0):,} 件 / 許可 {run.get('allowed', 0):,} 件 / "
        f"見送り {run.get('denied', 0):,} 件 / 保留 {run.get('deferred', 0):,} 件 / "
        f"新たに登録 {run.get('queued', 0):,} 件"
    )
    if run.get("already_queued"):
        click.echo(
            f"  前回までに登録済み {run['already_queued']:,} 件"
            "（同じ日の実行は同じご案内を二度登録しません）"
        )
    reasons = run.get("denied_by_reason") or {}
    if reasons:
        click.echo("  見送り・保留の理由（連絡手段ごとの判断の延べ数）:")
    for code, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        click.echo(f"    {labels.label('reason', code)}: {n:,} 件")
    click.echo("送信結果: " + common.delivery_line(r["delivery"]))
    click.echo(f"送信したメール (.eml): {r['capture_dir']}")
    click.echo(f"  送信状況: {r['console']['sending']}")
    for b in r["letters"]:
        click.echo(
            f"郵送のご案内 {labels.batch(b['batch'])}: {b['letters']:,} 通"
            f"（印刷手配待ち {b['waiting']:,} 通）"
        )
        click.echo(f"  宛名CSV: {b['csv']}")
        click.echo(f"  印刷用PDF: {b['pdf']}")
    if not r["letters"]:
        click.echo("郵送のご案内: 本日分はありません")
    click.echo(f"  印刷バッチ: {r['console']['letters']}")
    c = r["calls"]
    later = sum(c["later"].values())
    click.echo(
        f"電話リスト {labels.when(c['date'])}分: {c['count']:,} 件"
        f"（翌日以降の架電予定 {later:,} 件）"
    )
    for path in run.get("files", []):
        if "/calls/" in path:
            click.echo(f"  架電リストCSV: {Path(path).resolve()}")  # as the other files
    click.echo(f"  電話リスト: {r['console']['calls']}")
    click.echo(f"入庫率: {r['console']['conversion']}")
    click.echo("管理画面: outreach user add でスタッフを登録し、outreach serve で起動します")
    click.echo("判断の理由: outreach gate explain --customer ID --purpose p2 --channel email")


def register(cli: click.Group) -> None:
    cli.add_command(demo)
