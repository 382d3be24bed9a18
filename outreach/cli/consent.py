"""`outreach consent verify|record` (requests taken by phone or in store) and
`outreach optout ingest` (mailto unsubscribes).

Exit codes: 0 ok (or nothing to change), 1 problems found / input rejected, 2 usage or config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from outreach import bootstrap, labels
from outreach.cli import common
from outreach.gate import consent, ledger
from outreach.optout import ingest
from outreach.staff import audit, customers

STAFF_SOURCES = ("phone", "store", "letter", "email")


@click.group("consent")
def consent_group() -> None:
    """The consent ledger: verify it, record requests received by staff."""


@consent_group.command("verify")
@common.json_option
def verify_cmd(as_json: bool) -> None:
    """Re-derive every customer's preferences from the ledger and check the hash chain."""

    async def _go(app: bootstrap.App) -> list[consent.Problem]:
        async with app.sessions() as s:
            return await consent.verify(s)

    problems = common.run_app(_go)
    data = {"ok": not problems, "problems": [p.as_dict() for p in problems]}

    def human(_: Any) -> None:
        if not problems:
            click.echo("同意台帳: 問題なし")
            return
        for p in problems:
            at = f"（{p.seq} 件目の記録）" if p.seq is not None else ""
            click.echo(f"顧客 {p.customer_id}{at}: {labels.label('ledger_problem', p.code)}")
        click.echo(f"同意台帳: {len(problems)} 件の不整合")

    common.emit(data, as_json, human)
    if problems:
        raise SystemExit(1)


@consent_group.command("record")
@click.option("--customer", "customer_id", type=int, required=True, help="Customer id.")
@click.option(
    "--action", type=click.Choice(ledger.ACTIONS), required=True, help="What the customer asked."
)
@click.option(
    "--scope",
    required=True,
    help='"all", "category:marketing", "purpose:p3", "channel:email", "kind:shaken", …',
)
@click.option("--source", type=click.Choice(STAFF_SOURCES), required=True, help="How it came in.")
@click.option(
    "--actor",
    required=True,
    callback=common.plain_text,
    help="Staff id of the person who took the request.",
)
@click.option(
    "--note",
    default=None,
    callback=common.plain_text,
    help="Free text kept as evidence (no sensitive data).",
)
@click.option("--legal-basis", default=None, help="Legal basis, for grants (e.g. opt_in).")
@common.json_option
def record_cmd(
    customer_id: int,
    action: str,
    scope: str,
    source: str,
    actor: str,
    note: str | None,
    legal_basis: str | None,
    as_json: bool,
) -> None:
    """Record a consent change received by phone, in store or by letter (R9, R18).

    A cessation (利用停止, APPI Art. 35) is also logged as a data request to be answered.
    """

    async def _go(app: bootstrap.App) -> bool:
        now = app.clock.now()
        evidence: dict[str, Any] = {"taken_by": actor}
        if note:
            evidence["note"] = note
        async with app.sessions.begin() as s:
            changed = await consent.record_event(
                s,
                customer_id,
                action=action,
                scope=scope,
                source=source,
                actor=f"staff:{actor}",
                now=now,
                legal_basis=legal_basis,
                evidence=evidence,
            )
            if action in ("opt_out", "cessation"):  # as the console takes them
                await customers.file_request(
                    s, customer_id, kind=action, scope=scope, source=source, actor=actor,
                    now=now, note=note or "", changed=changed,
                )  # fmt: skip
            else:
                await audit.record(
                    s,
                    actor=actor,
                    action=f"consent.{action}",
                    entity="customer",
                    entity_id=customer_id,
                    now=now,
                    after={"scope": scope, "source": source, "changed": changed},
                    reason=note or None,
                )
        return changed

    changed = common.run_app(_go)
    common.emit(
        {"customer_id": customer_id, "action": action, "scope": scope, "changed": changed},
        as_json,
        lambda _: click.echo(
            f"記録しました: 顧客 {customer_id}「{labels.scope(scope)}」の"
            f"{labels.label('consent_action', action)}"
            if changed
            else f"変更なし: 顧客 {customer_id} は「{labels.scope(scope)}」について既に"
            f"{labels.label('consent_action', action)}の状態です"
        ),
    )


@click.group("optout")
def optout_group() -> None:
    """Opt-outs that arrive by mail (List-Unsubscribe mailto:)."""


@optout_group.command("ingest")
@click.option(
    "--maildir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Maildir folder that receives the unsubscribe mails.",
)
@common.json_option
def ingest_cmd(maildir: Path, as_json: bool) -> None:
    """Record the opt-outs of the unsubscribe mails in MAILDIR (idempotent).

    Exit 0 when every mail carried a valid token, 1 when some were rejected (listed).
    """

    async def _go(app: bootstrap.App) -> ingest.Report:
        return await ingest.ingest(app, maildir)

    report = common.run_app(_go)

    def human(_: Any) -> None:
        for key, why in report.rejected:
            click.echo(f"受け付けなかったメール {key}: {why}")
        click.echo(
            f"メール {report.messages} 通: 配信停止 {report.opted_out} 件、"
            f"記録済み {report.unchanged} 件、受け付けなかった {len(report.rejected)} 件"
        )

    common.emit(report.as_dict(), as_json, human)
    if report.rejected:
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    cli.add_command(consent_group)
    cli.add_command(optout_group)
