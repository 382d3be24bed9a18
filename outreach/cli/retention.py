"""`outreach retention [--dry-run]` (R13)."""

from __future__ import annotations

from typing import Any

import click

from outreach import bootstrap
from outreach.cli import common
from outreach.retention import job, periods

_LABELS = {
    "send_log": "送信記録",
    "gate_decisions": "判定記録",
    "provision_records": "提供・受領の記録",
    "incidents": "完了した漏えい等事案",
    "closed_customers": "取引終了・ご逝去のお客様（匿名化）",
    "consent_evidence_of_closed_customers": "上記のお客様の同意等の記録",
    "work_lists": "印刷データ・架電リスト",
}


@click.command("retention")
@click.option("--dry-run", is_flag=True, help="List what would go; change nothing.")
@common.json_option
def retention_cmd(dry_run: bool, as_json: bool) -> None:
    """Delete or anonymise what is past its period in config/retention.toml."""

    async def go(app: bootstrap.App) -> dict[str, Any]:
        p = periods.load(app.settings.config_dir / "retention.toml")
        async with app.sessions() as session:
            plan = await job.run(
                session, p, app.clock.now(), data_dir=app.settings.data_dir, dry_run=dry_run
            )
        return plan.as_dict()

    def human(d: dict[str, Any]) -> None:
        click.echo(
            "保存期間の確認（変更なし）" if d["dry_run"] else "保存期間を過ぎた記録を処理しました"
        )
        for kind, n in d["counts"].items():
            click.echo(f"  {_LABELS.get(kind, kind)}: {n:,} 件")

    common.emit(common.run_app(go), as_json, human)


def register(cli: click.Group) -> None:
    cli.add_command(retention_cmd)
