"""The `tanpo` command line: one group per area, each defined beside the code it drives."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="tanpo")
def main() -> None:
    """tanpo: collateral management for securities lending and repo on Hyperledger Fabric."""


def _register() -> None:
    # Sub-groups live next to their code; importing them here keeps `tanpo --help` complete.
    import importlib

    for module, name in (
        ("tanpo.network.cli", "network"),
        ("tanpo.scenarios.cli", "scenario"),
        ("tanpo.oracle.cli", "oracle"),
        ("tanpo.bench.cli", "bench"),
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        main.add_command(getattr(mod, name))


_register()


if __name__ == "__main__":
    main()
