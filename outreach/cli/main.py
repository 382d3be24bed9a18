"""Assembles the `outreach` command from the area modules.

Exit codes: 0 ok, 1 partial or rejected input, 2 usage or configuration error.
Errors are one line on stderr, never a traceback.

Each area module owns its commands and exposes `register(cli)`. The group loads an area only
when one of its commands is invoked (or for `--help`), so `outreach worker` does not pay for
importing the web framework and Alembic: process start-up matters for workers and scripts.
"""

from __future__ import annotations

import importlib
import sys

import click

from outreach import logs

# command name → the area module that registers it
COMMANDS: dict[str, str] = {
    "init": "outreach.cli.db",
    "db": "outreach.cli.db",
    "demo": "outreach.cli.demo",
    "demo-data": "outreach.cli.records",
    "import": "outreach.cli.records",
    "customer": "outreach.cli.records",
    "gate": "outreach.cli.gate",
    "consent": "outreach.cli.consent",
    "optout": "outreach.cli.consent",
    "run-daily": "outreach.cli.runs",
    "runs": "outreach.cli.runs",
    "scheduler": "outreach.cli.runs",
    "worker": "outreach.cli.send",
    "outbox": "outreach.cli.send",
    "serve": "outreach.cli.web",
    "campaign": "outreach.cli.campaigns",
    "user": "outreach.cli.users",
    "templates": "outreach.cli.templates",
    "export": "outreach.cli.provision",
    "provisions": "outreach.cli.provision",
    "policy": "outreach.cli.policy",
    "incident": "outreach.cli.incidents",
    "retention": "outreach.cli.retention",
    "compliance": "outreach.cli.compliance",
    "backup": "outreach.cli.ops",
    "restore": "outreach.cli.ops",
    "feedback": "outreach.cli.feedback",
    "calls": "outreach.cli.day",
    "letters": "outreach.cli.day",
    "conversion": "outreach.cli.day",
}
AREAS = tuple(dict.fromkeys(COMMANDS.values()))


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        area = COMMANDS.get(cmd_name)
        if area is None:
            return None
        return area_commands(area).get(cmd_name)


def area_commands(area: str) -> dict[str, click.Command]:
    """The commands an area module registers (imports it)."""
    holder = click.Group()
    importlib.import_module(area).register(holder)
    return dict(holder.commands)


@click.group(
    name="outreach", cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="outreach")
def cli() -> None:
    """Consent- and purpose-gated reminders and campaigns for a car dealer."""


def build() -> click.Group:
    return cli


def run() -> None:
    command = build()
    logs.setup_from_env()
    try:
        command.main(prog_name="outreach", standalone_mode=False)
    except click.ClickException as e:
        if isinstance(e, click.UsageError):
            sys.stderr.write(f"error: {e.format_message()} (see 'outreach --help')\n")
        else:
            e.show()
        raise SystemExit(e.exit_code) from None
    except click.exceptions.Exit as e:
        raise SystemExit(e.exit_code) from None
    except (click.Abort, KeyboardInterrupt):
        sys.stderr.write("aborted\n")
        raise SystemExit(130) from None
