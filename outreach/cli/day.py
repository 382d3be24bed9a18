"""`outreach calls`, `outreach letters` and `outreach conversion`: the dealer's day from the
command line (the console shows the same: /staff/calls, /staff/letters, /staff/conversion).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from outreach import bootstrap
from outreach.cli import common


@click.command("calls")
@click.option("--date", "day", callback=common.parse_day, help="Calling day (default: today).")
@click.option("--store", "store_id", type=click.IntRange(1), default=None, help="Store id.")
@common.json_option
def calls_cmd(day: dt.date | None, store_id: int | None, as_json: bool) -> None:
    """The call list of a day: whom to call and why (no phone numbers unless --json)."""
    from outreach import calls, clock

    async def _go(app: bootstrap.App) -> dict[str, Any]:
        the_day = day or clock.today(app.clock)
        async with app.sessions() as s:
            rows = await calls.day_list(s, the_day, store_id=store_id)
            older = await calls.carried_over(s, the_day, store_id=store_id)
        return {
            "date": the_day.isoformat(),
            "count": len(rows),
            "carried_over": len(older),
            "calls": [
                {
                    "outbox_id": c.outbox_id,
                    "customer_id": c.customer_id,
                    "store": c.store,
                    "why": c.why,
                    "due_on": c.due_on.isoformat() if c.due_on else None,
                    "call_on": c.call_on.isoformat(),
                    "attempts": len(c.attempts),
                }
                for c in rows
            ],
        }

    def human(d: dict[str, Any]) -> None:
        click.echo(
            f"{d['date']} の電話リスト: {d['count']} 件（前日までの未対応 {d['carried_over']} 件）"
        )
        for c in d["calls"]:
            click.echo(
                f"  {c['outbox_id']:>7}  {c['store'] or '-'}  {c['why']}  期日 {c['due_on']}"
            )

    common.emit(common.run_app(_go), as_json, human)


@click.group("letters")
def letters_cmd() -> None:
    """Print batches of letters (郵送のご案内)."""


@letters_cmd.command("list")
@common.json_option
def letters_list(as_json: bool) -> None:
    """The print batches, newest first, with how many letters still await printing."""
    from outreach.letters import batches

    async def _go(app: bootstrap.App) -> list[dict[str, Any]]:
        async with app.sessions() as s:
            rows = await batches.overview(s)
        out = []
        for b in rows:
            files = batches.paths(app.settings.data_dir, b.name)
            out.append(
                {
                    "batch": b.name,
                    "letters": b.letters,
                    "waiting": b.waiting,
                    "printed_at": b.printed_at.isoformat() if b.printed_at else None,
                    "printed_by": b.printed_by,
                    "csv": str(files["csv"]),
                    "pdf": str(files["pdf"]),
                }
            )
        return out

    def human(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo("印刷バッチはありません")
        for r in rows:
            state = (
                f"未手配 {r['waiting']} 通"
                if r["waiting"]
                else f"印刷手配済み（{r['printed_by']}）"
            )
            click.echo(f"{r['batch']}  {r['letters']} 通  {state}  {r['pdf']}")

    common.emit(common.run_app(_go), as_json, human)


@letters_cmd.command("printed")
@click.argument("batch")
@click.option("--by", "actor", required=True, help="Who sent the batch to print.")
def letters_printed(batch: str, actor: str) -> None:
    """Confirm a print batch as sent to print: its letters become printed."""
    from outreach.letters import batches

    async def _go(app: bootstrap.App) -> int:
        async with app.sessions() as s, s.begin():  # a refusal is one line, exit code 1
            return await batches.confirm(s, batch, actor=actor, now=app.clock.now())

    n = common.run_app(_go)
    click.echo(f"印刷バッチ {batch}: {n} 通を印刷手配済みにしました")


@click.command("conversion")
@click.option(
    "--days",
    type=click.IntRange(1, 365),
    default=90,
    show_default=True,
    help="A booking within this many days after the reminder counts.",
)
@common.json_option
def conversion_cmd(days: int, as_json: bool) -> None:
    """The conversion report (入庫率): reminders by kind, stage and channel → bookings."""
    from outreach import conversion

    async def _go(app: bootstrap.App) -> dict[str, Any]:
        async with app.sessions() as s:
            return (await conversion.report(s, days=days)).as_dict()

    def human(d: dict[str, Any]) -> None:
        click.echo(
            f"入庫率（ご案内から {d['days']} 日以内）: {d['booked']}/{d['reminded']} "
            f"= {d['rate'] * 100:.1f}%"
        )
        for r in d["rows"]:
            click.echo(f"  {r['label']}: {r['booked']}/{r['reminded']} = {r['rate'] * 100:.1f}%")

    common.emit(common.run_app(_go), as_json, human)


def register(cli: click.Group) -> None:
    cli.add_command(calls_cmd)
    cli.add_command(letters_cmd)
    cli.add_command(conversion_cmd)
