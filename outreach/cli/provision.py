"""`outreach export joint-use --to GROUP` and `outreach provisions` (R4, R5)."""

from __future__ import annotations

import csv
import getpass
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from outreach import bootstrap
from outreach.cli import common
from outreach.db.models import ProvisionRecord
from outreach.provision import exportfile, insurer_export, joint_export, records


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _export(
    run: Callable[..., Awaitable[exportfile.Result]],
    to: str,
    out: Path | None,
    as_json: bool,
    *,
    stem: str,
    heading: str,
) -> None:
    """Run one export to `to` (default file: exports/<stem>-<to>-<date>.csv) and report it;
    `heading` is formatted with the result's fields."""

    async def go(app: bootstrap.App) -> dict[str, Any]:
        now = app.clock.now()
        path = out or app.settings.data_dir / "exports" / f"{stem}-{to}-{now:%Y%m%d}.csv"
        async with app.sessions() as session:
            result = await run(
                session, app.policy.registry, to, path, now=now, actor=f"cli:{_user()}"
            )
        return result.as_dict()

    common.emit(
        common.run_app(go),
        as_json,
        lambda d: click.echo(
            f"{heading.format(**d)}: {d['customers']:,} 名 / {d['rows']:,} 行 → {d['path']}\n"
            f"提供の記録 {d['batch']}（{d['customers']:,} 件）"
        ),
    )


@click.group("export")
def export_group() -> None:
    """Data that leaves the dealer, each time with its provision records (R5)."""


@export_group.command("joint-use")
@click.option("--to", "group", required=True, help="Joint-use group id (purposes.toml).")
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="CSV file."
)
@common.json_option
def joint_use_cmd(group: str, out: Path | None, as_json: bool) -> None:
    """Write the joint-use items ①–⑧ of the customers in scope for GROUP to a CSV file and a
    provision record for each of them. Exit 1 when nobody is in scope, 2 for an unknown
    group or a joint use not yet published."""
    _export(joint_export.run, group, out, as_json, stem="joint-use", heading="共同利用 {group}")


@export_group.command("insurer")
@click.option("--to", "insurer", required=True, help="Insurer id (purposes.toml [insurers]).")
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="CSV file."
)
@common.json_option
def insurer_cmd(insurer: str, out: Path | None, as_json: bool) -> None:
    """Write, for the customers who consented to sharing with INSURER, the items the policy
    names for that insurer to a CSV file and a provision record for each of them. Exit 1
    when nobody consented, 2 for an unknown insurer."""
    _export(insurer_export.run, insurer, out, as_json, stem="insurer", heading="{name}への提供")


@click.command("provisions")
@click.option("--customer", "customer_id", type=int, default=None, help="One customer's records.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the records as CSV (UTF-8).")
@common.json_option
def provisions_cmd(customer_id: int | None, as_csv: bool, as_json: bool) -> None:
    """The provision and receipt records (Art. 29/30), oldest first."""

    async def go(app: bootstrap.App) -> list[dict[str, Any]]:
        async with app.sessions() as session:
            q = select(ProvisionRecord).order_by(ProvisionRecord.at, ProvisionRecord.id)
            if customer_id is not None:
                q = q.where(ProvisionRecord.customer_id == customer_id)
            return [
                {"id": r.id, "customer_id": r.customer_id, **records.describe(r)}
                for r in await session.scalars(q)
            ]

    rows = common.run_app(go)
    if as_csv and rows:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
        return
    common.emit(
        rows,
        as_json,
        lambda rs: click.echo(
            "\n".join(
                f"#{r['id']} {r['日時']} {r['区分']} {r['相手方']} 顧客{r['customer_id']} "
                f"{r['項目']} {r['根拠']}"
                for r in rs
            )
            or "記録はありません"
        ),
    )


def register(cli: click.Group) -> None:
    cli.add_command(export_group)
    cli.add_command(provisions_cmd)
