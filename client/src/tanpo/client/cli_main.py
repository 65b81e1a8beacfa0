"""The `tanpo` command line: one group per area, each defined beside the code it drives.

Each installed tanpo distribution adds its commands through the ``tanpo.commands`` entry-point
group (a click command, group, or a list of them), so `tanpo` offers what is installed: the client
alone gives the participant commands; the network, oracle and scenarios distributions add theirs.

`tanpo --as bank-a[/User2] …` chooses the identity the command acts as (default: the operator's
User1 for operator commands, else bank-a's User1); `--state-dir` chooses the network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import click

ENTRY_POINT_GROUP = "tanpo.commands"


@dataclass
class CliContext:
    """What every command may need: who acts, and which network."""

    as_: str | None
    state_dir: Path | None

    def identity(self, default: str = "bank-a") -> tuple[str, str]:
        from tanpo.client.connect import parse_as

        return parse_as(self.as_ or default)


class TanpoRoot(click.Group):
    """The root group. Its commands come from the entry points, loaded on first use, so the
    ``tanpo`` script imports almost nothing before it can handle Ctrl-C; and a Ctrl-C that no
    command handled ends with one line and exit 130, not a traceback or click's bare
    "Aborted!" (commands that talk to the ledger say themselves what was submitted)."""

    _loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            _register(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted (Ctrl-C)", err=True)
            ctx.exit(130)


@click.group(cls=TanpoRoot)
@click.version_option(package_name="tanpo-client")
@click.option(
    "--as", "as_", metavar="ORG[/USER]", default=None,
    help="Act as this organisation's user, e.g. bank-a or bank-b/User2 (default User1).",
)
@click.option(
    "--state-dir", type=click.Path(path_type=Path), default=None, envvar="TANPO_STATE_DIR",
    help="The network's state folder (default .state/network).",
)
@click.pass_context
def main(ctx: click.Context, as_: str | None, state_dir: Path | None) -> None:
    """tanpo: collateral management for securities lending and repo on Hyperledger Fabric."""
    if state_dir is not None:
        # The network and client modules read the state folder from the environment.
        os.environ["TANPO_STATE_DIR"] = str(state_dir)
    ctx.obj = CliContext(as_=as_, state_dir=state_dir)


def _register(root: click.Group) -> None:
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        commands = entry.load()
        # An entry may contribute one group or a list of top-level commands.
        for command in commands if isinstance(commands, list | tuple) else [commands]:
            root.add_command(command)


if __name__ == "__main__":
    main()
