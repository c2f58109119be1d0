"""`shipper setup NAME`: commands that prepare a destination before shipping (index templates and the
like), contributed by plugins through the `shipper.setup` entry point group, so the core names no
product. Each is loaded only when asked for (or listed by --help)."""
from __future__ import annotations

import click

from shipper import registry


class SetupCommands(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return registry.names("setup")

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in registry.names("setup"):
            return None  # click says "No such command" and lists none: --help shows what there is
        try:
            return registry.load("setup", cmd_name)
        except registry.PluginError as e:
            click.echo(f"error: {e}", err=True)
            return None


@click.group(cls=SetupCommands)
def setup() -> None:
    """Prepare what a destination needs before shipping (index templates, ...)."""
