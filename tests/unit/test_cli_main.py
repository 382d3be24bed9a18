"""The lazy command table matches what each area module registers."""

from __future__ import annotations

from outreach.cli import main


def test_every_area_command_is_in_the_table_and_nothing_else() -> None:
    registered: dict[str, str] = {}
    for area in main.AREAS:
        for name in main.area_commands(area):
            registered[name] = area
    assert registered == main.COMMANDS


def test_unknown_command_is_none() -> None:
    import click

    with click.Context(main.cli) as ctx:
        assert main.cli.get_command(ctx, "no-such-command") is None
