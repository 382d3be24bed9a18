"""`outreach demo-data`, `outreach import KIND FILE`, `outreach customer show ID`."""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from outreach import bootstrap, labels
from outreach import demo as demo_data
from outreach.cli import common
from outreach.cli.progress import Meter
from outreach.clock import JST, today
from outreach.records import csvimport, customers, fields, wareki

REPORT_LINES = 20


@contextmanager
def _progress(
    label: str, length: int, as_json: bool, unit: str = "件"
) -> Iterator[Callable[[int], None] | None]:
    """Count, rate and time left on a terminal; JSON lines on stderr with --json, else quiet."""
    if length <= 0:
        yield None
        return
    with Meter(label, length, json_lines=as_json, unit=unit) as meter:
        yield meter.advance


# --- demo-data -------------------------------------------------------------------------------


@click.command("demo-data")
@click.option("--customers", "count", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same data.")
@click.option(
    "--today",
    "today_",
    callback=common.parse_day,
    help="Date the data is made around (due dates follow it); default: today in Japan.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=100),
    default=demo_data.BATCH,
    show_default=True,
    help="Customers written per transaction.",
)
@common.json_option
def demo_data_cmd(
    count: int, seed: int, today_: dt.date | None, batch_size: int, as_json: bool
) -> None:
    """Load deterministic synthetic customers, vehicles, policies and consent states."""

    async def _go(app: bootstrap.App) -> demo_data.Summary:
        day = today_ or today(app.clock)
        notice, new_purpose = demo_data.notice_of(app.settings.config_dir)
        with _progress("demo-data", count, as_json) as bar:
            return await demo_data.load(
                app.engine,
                customers=count,
                seed=seed,
                today=day,
                batch_size=batch_size,
                progress=bar,
                notice_version=notice,
                new_purpose=new_purpose,
            )

    summary = common.run_app(_go)
    common.emit(summary.as_dict(), as_json, _print_demo)


def _print_demo(d: dict[str, Any]) -> None:
    rows = d["rows"]
    click.echo(
        f"デモデータを作成しました: 顧客 {rows['customers']:,} 件、車両 {rows['vehicles']:,} 件、"
        f"保険契約 {rows['insurance_policies']:,} 件、同意履歴 {rows['consent_events']:,} 件"
        f"（乱数の種 {d['seed']}、基準日 {labels.when(d['today'])}、{d['seconds']:.1f} 秒）"
    )


# --- import --------------------------------------------------------------------------------


@click.command("import")
@click.argument("kind", type=click.Choice(fields.KINDS), metavar="KIND")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=True))
@click.option(
    "--encoding",
    type=click.Choice(["auto", "utf-8", "cp932"], case_sensitive=False),
    default="auto",
    show_default=True,
    help="CSV encoding; auto tells UTF-8 (with or without BOM) from CP932/Shift_JIS.",
)
@click.option(
    "--errors",
    "report",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Error report CSV (default: DATA_DIR/import-errors/FILE.<time>.errors.csv, mode 600; "
    "written only if needed).",
)
@common.json_option
def import_cmd(kind: str, file: Path, encoding: str, report: Path | None, as_json: bool) -> None:
    """Import a DMS CSV export; exit 1 if any row was rejected.

    KIND is customers, vehicles or policies; the CSV headers are mapped to fields by
    config/csv/KIND.toml. Rows are upserted by external id: re-running a file changes nothing.
    """

    try:
        size = file.stat().st_size
    except OSError:
        size = 0

    async def _go(app: bootstrap.App) -> tuple[csvimport.Result, Path]:
        now = app.clock.now()
        with _progress(f"import {kind}", size, as_json, unit="バイト") as bar:
            result = await csvimport.run(
                app.engine,
                app.settings.config_dir,
                kind,
                file,
                now=now,
                encoding=encoding,
                progress=bar,
            )
        return result, csvimport.default_report(app.settings.data_dir, file, now)

    result, default_report = common.run_app(_go)
    report_path: Path | None = None
    if result.problems:
        try:
            report_path = csvimport.write_report(
                report or default_report, result.problems, exclusive=report is None
            )
        except OSError as e:
            target = report or default_report
            click.echo(f"warning: cannot write the error report {target}: {e.strerror}", err=True)
            report_path = None
    data = result.as_dict() | {"error_report": str(report_path) if report_path else None}
    if as_json:
        common.emit(data, True, lambda _d: None)
    _print_import(result, report_path)
    if result.problems:
        raise SystemExit(1)  # partial: some rows rejected (documented exit code 1)


def _print_import(r: csvimport.Result, report_path: Path | None) -> None:
    line = (
        f"{r.kind}: {r.rows:,} 行を読み込み、新規 {r.inserted:,} 件・更新 {r.updated:,} 件・"
        f"変更なし {r.unchanged:,} 件"
    )
    if r.email_bases_added:
        line += f"・配信根拠 {r.email_bases_added:,} 件を追加"
    if r.reminders_cancelled:
        line += f"・予定のご案内 {r.reminders_cancelled:,} 件を取消"
    click.echo(line + f" ({r.encoding})", err=True)
    if r.ignored_columns:
        click.echo(f"対応付けのない列を無視しました: {', '.join(r.ignored_columns)}", err=True)
    if not r.problems:
        return
    click.echo(f"却下 {r.rejected:,} 行 ({len(r.problems):,} 件の問題):", err=True)
    for p in r.problems[:REPORT_LINES]:
        where = f"{p.line}行目" + (f" {p.column}" if p.column else "")
        click.echo(f"  {where}: {p.reason}", err=True)
    if len(r.problems) > REPORT_LINES:
        click.echo(f"  …ほか {len(r.problems) - REPORT_LINES:,} 件", err=True)
    if report_path:
        click.echo(f"エラー報告: {report_path}", err=True)


# --- customer show -------------------------------------------------------------------------


@click.group("customer")
def customer_group() -> None:
    """Look at one customer's record."""


@customer_group.command("show")
@click.argument("ident", metavar="ID")
@common.json_option
def show_cmd(ident: str, as_json: bool) -> None:
    """Show a customer (by DMS external id, or internal id) with everything held on them."""

    async def _go(app: bootstrap.App) -> customers.Shown:
        async with app.sessions() as session:
            return await customers.show(session, ident, actor=f"cli:{_user()}", now=app.clock.now())

    common.emit(common.run_app(_go).to_json(), as_json, _print_customer)


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


# The catalogue group of each field shown (outreach.labels, shared with the console).
GROUP_OF = {
    "status": "customer_status",
    "acquisition": "acquisition",
    "basis": "email_basis",
    "vehicle_status": "vehicle_status",
    "owner_kind": "owner_kind",
    "insurer": "insurer",
    "policy_kind": "policy_kind",
    "action": "consent_action",
    "suppressed": "suppression_reason",
    "source": "source",
}


def _label(group: str, value: Any) -> str:
    return labels.label(GROUP_OF[group], value)


def _d(value: dt.date | None) -> str:
    return "—" if value is None else wareki.japanese(value)


def _dt(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    j = value.astimezone(JST)
    return f"{wareki.japanese(j.date())} {j:%H:%M}"


def _scope(scope: str) -> str:
    return labels.scope(scope)


def _print_customer(d: dict[str, Any]) -> None:
    c, p = d["customer"], d["preferences"]
    out = click.echo
    out(f"顧客 {c['external_id']} (内部ID {c['id']})")
    out(f"  氏名: {c['name_kanji']} ({c['name_kana'] or '—'})")
    out(
        f"  住所: 〒{c['postal_code'] or '—'} {c['prefecture'] or ''}{c['city'] or ''}"
        f"{c['address'] or ''}"
    )
    out(f"  電話: {c['phone'] or '—'}")
    mail = c["email"] or "—"
    if c["email_suppressed"]:
        mail += f" [送信停止: {_label('suppressed', c['email_suppressed'])}]"
    out(f"  メール: {mail}")
    out(f"  生年月日: {_d(c['birth_date'])}")
    out(f"  状態: {_label('status', c['status'])}")
    acq = _label("acquisition", c["acquisition"])
    if c["joint_use_partner"]:
        acq += f" ({c['joint_use_partner']})"
    out(f"  取得: {acq}、取得日 {_d(c['acquired_on'])}、通知版 {c['notice_version']}")
    out(f"  担当店舗: {c['store'] or '—'}")
    out("連絡の設定")
    out(f"  配信停止: {'、'.join(_scope(s) for s in p['opt_outs']) or 'なし'}")
    out(f"  利用停止: {'あり' if p['use_suspended'] else 'なし'}")
    out(f"  同意: {'、'.join(_scope(x) for x in p['consents']) or 'なし'}")
    out("メール配信根拠 (特定電子メール法)")
    for b in d["email_bases"] or [None]:
        if b is None:
            out("  なし")
            continue
        state = f" (撤回 {_dt(b['withdrawn_at'])})" if b["withdrawn_at"] else ""
        out(
            f"  {b['email']}: {_label('basis', b['basis'])}、{_dt(b['evidence_at'])}、"
            f"{labels.label('evidence_method', b['evidence_method'])}{state}"
        )
    out("車両")
    for v in d["vehicles"] or [None]:
        if v is None:
            out("  なし")
            continue
        owner = _label("owner_kind", v["owner_kind"])
        if v["owner_kind"] != "user" and v["owner_name"]:
            owner += f" {v['owner_name']}"
        out(
            f"  {v['external_id']} {v['car_name']} {v['model_code'] or ''} {v['color'] or ''}"
            f" {v['registration_number'] or ''} [{_label('vehicle_status', v['status'])}]"
        )
        out(
            f"    初度登録 {_d(v['first_registered_on'])}、車検満了 {_d(v['shaken_expiry_on'])}、"
            f"前回点検 {_d(v['last_inspection_on'])}、入庫予約 {_d(v['booked_on'])}、所有者 {owner}"
        )
    out("保険契約")
    for pol in d["policies"] or [None]:
        if pol is None:
            out("  なし")
            continue
        role = " (受託データ)" if pol["held_as_processor"] else ""
        out(
            f"  {pol['external_id']} {_label('insurer', pol['insurer'])}"
            f" {_label('policy_kind', pol['kind'])}: {_dt(pol['starts_at'])} 〜"
            f" {_dt(pol['expires_at'])}{role}"
        )
    out(f"同意履歴 (最新 {len(d['consent_events'])} 件)")
    for e in d["consent_events"] or [None]:
        if e is None:
            out("  なし")
            continue
        out(
            f"  #{e['seq']} {_dt(e['occurred_at'])} {_label('action', e['action'])}"
            f" {_scope(e['scope'])}（{_label('source', e['source'])}、{e['actor']}）"
        )
    if d["sensitive_records"]:
        out(f"要配慮個人情報: {d['sensitive_records']} 件 (内容は表示しません)")


def register(cli: click.Group) -> None:
    cli.add_command(demo_data_cmd)
    cli.add_command(import_cmd)
    cli.add_command(customer_group)
