"""`outreach serve`: the web app (opt-out pages, console), the scheduler and the outbox
worker under uvicorn.

Exit codes: 0 after a clean stop, 2 usage or configuration error (e.g. no secret key).
"""

from __future__ import annotations

import os

import click
from fastapi import FastAPI

from outreach import bootstrap, logs, process
from outreach import settings as settings_mod
from outreach.cli import common
from outreach.errors import OutreachError
from outreach.optout import keys, policy
from outreach.web import app as web_app


def _scheduler_on() -> bool:
    # Set by `serve --no-scheduler` for its uvicorn workers (they inherit the environment).
    return os.environ.get("OUTREACH_SERVE_SCHEDULER", "1") != "0"


def _worker_on() -> bool:
    # Set by `serve --no-worker` (split deployments: `outreach worker` runs elsewhere).
    return os.environ.get("OUTREACH_SERVE_WORKER", "1") != "0"


def startup_hooks(app: bootstrap.App) -> list[web_app.Hook]:
    """What `serve` starts next to the web app: the job scheduler (one leader per database)
    and the outbox worker, so one process runs the whole product on one machine."""
    from outreach import heartbeat, schedule

    hooks: list[web_app.Hook] = [schedule.start_in_background] if _scheduler_on() else []
    hooks += [heartbeat.start_in_background] if _worker_on() else []
    return [*hooks, _settle]  # last: what start-up built is there to freeze


async def _settle(_: bootstrap.App) -> None:
    process.settle()


def shutdown_hooks(app: bootstrap.App) -> list[web_app.Hook]:
    from outreach import heartbeat, schedule

    async def close(a: bootstrap.App) -> None:
        await a.close()

    # Run in reverse: the worker finishes its batch and the scheduler its running job
    # before the engine closes.
    hooks: list[web_app.Hook] = [close]
    hooks += [schedule.stop_background] if _scheduler_on() else []
    return hooks + ([heartbeat.stop_background] if _worker_on() else [])


def factory() -> FastAPI:
    """The uvicorn factory (`outreach.cli.web:factory`): one App per worker process."""
    app = bootstrap.build()
    logs.setup(app.settings.log_level, app.settings.log_format)  # each uvicorn worker process
    app.validate()  # `serve` checked the files already; this App keeps what it loaded
    return web_app.create_app(app, on_startup=startup_hooks(app), on_shutdown=shutdown_hooks(app))


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, type=click.IntRange(0, 65535), show_default=True)
@click.option(
    "--workers", default=1, type=click.IntRange(1, 64), show_default=True, help="Processes."
)
@click.option(
    "--scheduler/--no-scheduler",
    default=True,
    show_default=True,
    help="Also run the job scheduler (jobs/*.toml); one leader fires, however many serve.",
)
@click.option(
    "--worker/--no-worker",
    "send_worker",
    default=True,
    show_default=True,
    help="Also run the outbox worker in-process (turn off when `outreach worker` runs "
    "on other machines sharing PostgreSQL).",
)
def serve(host: str, port: int, workers: int, scheduler: bool, send_worker: bool) -> None:
    """Serve the opt-out pages and the console over HTTP, with the scheduler and the outbox
    worker in the same process; put TLS in front of it."""
    import uvicorn

    os.environ["OUTREACH_SERVE_SCHEDULER"] = "1" if scheduler else "0"
    os.environ["OUTREACH_SERVE_WORKER"] = "1" if send_worker else "0"

    settings = settings_mod.load()
    try:  # fail now, in one line, rather than in every worker
        keys.ring(settings)
        policy.load(settings.config_dir / "optout.toml")
        bootstrap.load_policy(settings)  # registry, gate, reminders, dealer, sending
    except OutreachError as e:
        raise common.Failure(str(e), e.exit_code) from None
    uvicorn.run(
        "outreach.cli.web:factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # uvicorn's access log would print the tokens in the paths
        log_level=settings.log_level.lower(),
        log_config=None,  # keep outreach.logs' JSON handler (set up by the CLI entry point)
        server_header=False,
        proxy_headers=False,
    )


def register(cli: click.Group) -> None:
    cli.add_command(serve)
