"""Assembles the `outreach` command from the area modules.

Exit codes: 0 ok, 1 partial or rejected input, 2 usage or configuration error.
Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

# Each area module owns its commands and exposes `register(cli)`.
AREAS = (
    "outreach.cli.db",
    "outreach.cli.records",
    "outreach.cli.gate",
    "outreach.cli.consent",
    "outreach.cli.runs",
    "outreach.cli.send",
    "outreach.cli.web",
    "outreach.cli.campaigns",
    "outreach.cli.users",
    "outreach.cli.demo",
    "outreach.cli.templates",
)


@click.group(name="outreach", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="outreach")
def cli() -> None:
    """Consent- and purpose-gated reminders and campaigns for a car dealer."""


def build() -> click.Group:
    for name in AREAS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue  # area not built yet
            raise
        module.register(cli)
    return cli


def run() -> None:
    command = build()
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
