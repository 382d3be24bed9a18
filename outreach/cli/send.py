"""`outreach worker` (drain the outbox) and `outreach outbox` (counts by status)."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from collections.abc import Callable
from typing import Any, TypeVar

import click

from outreach import bootstrap, heartbeat, labels, metrics, outbox, pipeline, process
from outreach.cli import common
from outreach.cli.progress import Meter
from outreach.send import loop as send_loop

F = TypeVar("F", bound=Callable[..., Any])

# The worker's options whose default (None: not given) is the configuration's.
_CONFIGURED_HELP = {
    "--batch": "Messages claimed per transaction (default: config/sending.toml).",
    "--concurrency": "SMTP connections (default: OUTREACH_SMTP_POOL_SIZE).",
    "--lease": "Seconds before a dead worker's messages are claimable again.",
}


def _configured(flag: str, kind: click.ParamType[Any, Any]) -> Callable[[F], F]:
    return click.option(flag, type=kind, default=None, help=_CONFIGURED_HELP[flag])


@click.command("worker")
@click.option("--once", is_flag=True, help="Send what is ready now, then exit.")
@_configured("--batch", click.IntRange(1, 10_000))
@_configured("--concurrency", click.IntRange(1, 128))
@_configured("--lease", click.FloatRange(1, 86_400))
@click.option(
    "--idle",
    type=click.FloatRange(0.05, 60),
    default=1.0,
    show_default=True,
    help="Seconds between polls when the outbox is empty.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve this worker's Prometheus metrics on 127.0.0.1:PORT/metrics.",
)
@common.json_option
def worker(
    once: bool,
    batch: int | None,
    concurrency: int | None,
    lease: float | None,
    idle: float,
    metrics_port: int | None,
    as_json: bool,
) -> None:
    """Drain the outbox: claim, re-check with the gate, build, send, record.

    Runs until SIGTERM or Ctrl-C (finishing the batch in hand), or with --once until no
    message is ready. Several workers, on several machines, may share one PostgreSQL.
    """

    async def _go(app: bootstrap.App) -> dict[str, int]:
        w = app.worker(
            batch=batch,
            concurrency=concurrency,
            lease=dt.timedelta(seconds=lease) if lease else None,
        )
        process.settle()  # the worker's templates and policy are built: out of the collector
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if metrics_port is not None:  # after the handlers: once it answers, SIGTERM is clean
            try:
                metrics.serve(metrics_port)
            except OSError as e:
                await w.transport.close()
                raise common.Failure(f"cannot serve metrics on port {metrics_port}: {e}") from None

        ready = None
        if once:
            async with app.sessions() as session:
                ready = await outbox.ready(session, now=app.clock.now())
        with Meter("送信", ready, json_lines=as_json) as meter:

            def progress(r: pipeline.BatchReport) -> None:
                meter.advance(r.claimed)

            report = await heartbeat.run(
                app, stop, in_process=False, once=once, idle=idle, worker=w, on_batch=progress
            )
        return pipeline.summary(report)

    result = common.run_app(_go, loop_factory=send_loop.factory())
    common.emit(result, as_json, _human_summary)


def _human_summary(d: dict[str, Any]) -> None:
    click.echo("送信結果: " + common.delivery_line(d))


@click.command("outbox")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(outbox.STATUSES),
    help="Only these statuses (repeatable).",
)
@common.json_option
def outbox_cmd(statuses: tuple[str, ...], as_json: bool) -> None:
    """Messages in the outbox, counted by status."""

    async def _go(app: bootstrap.App) -> dict[str, int]:
        async with app.sessions() as session:
            return await outbox.counts(session, statuses=statuses or None)

    counts = common.run_app(_go)

    def human(d: dict[str, int]) -> None:
        for status, n in d.items():
            click.echo(f"{labels.label('outbox_status', status)}\t{n:>8,} 件")

    common.emit(counts, as_json, human)


def register(cli: click.Group) -> None:
    cli.add_command(worker)
    cli.add_command(outbox_cmd)
